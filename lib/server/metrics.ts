// GET /metrics in Prometheus' text format: requests by route and status, tokens, slow clients cut
// off, slots, the KV cache, the engine's time per step phase, memory, and which transport serves.
import type { ServerContext } from './context.js';
import type { Exchange } from './exchange.js';
import type { Route } from './routes.js';

const label = (v: string) => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

function metrics(c: ServerContext, ex: Exchange): number {
  const lines = ['# TYPE shimmy_requests_total counter'];
  for (const [key, n] of c.metrics.requests) {
    const [method, path, status] = key.split(' ');
    lines.push(`shimmy_requests_total{method="${label(method!)}",route="${label(path!)}",status="${status}"} ${n}`);
  }
  lines.push('# TYPE shimmy_tokens_generated_total counter', `shimmy_tokens_generated_total ${c.metrics.tokensGenerated}`);
  lines.push('# TYPE shimmy_slow_clients_cut_off_total counter');
  for (const [kind, n] of Object.entries(c.metrics.slowClientsCutOff)) lines.push(`shimmy_slow_clients_cut_off_total{kind="${kind}"} ${n}`);
  lines.push('# TYPE shimmy_requests_in_flight gauge', `shimmy_requests_in_flight ${c.inFlight.size}`);
  lines.push('# TYPE shimmy_models_loaded gauge', `shimmy_models_loaded ${c.registry.loadedCount}`);
  const models = c.registry.loadedModels().map((model) => ({ name: label(model.info.name || model.path), stats: model.stats() }));
  lines.push('# TYPE shimmy_slots_busy gauge');
  for (const { name, stats } of models) lines.push(`shimmy_slots_busy{model="${name}"} ${stats.slotsBusy}`);
  lines.push('# TYPE shimmy_slots_paused gauge');
  for (const { name, stats } of models) lines.push(`shimmy_slots_paused{model="${name}"} ${stats.slotsPaused}`);
  // The KV cache each model made (its element types in model.info.kv) and how much of it holds tokens.
  lines.push('# TYPE shimmy_kv_cache_bytes gauge');
  for (const { name, stats } of models) lines.push(`shimmy_kv_cache_bytes{model="${name}"} ${stats.kvBytes}`);
  lines.push('# TYPE shimmy_kv_cells gauge');
  for (const { name, stats } of models) lines.push(`shimmy_kv_cells{model="${name}"} ${stats.kvCells}`);
  lines.push('# TYPE shimmy_kv_cells_used gauge');
  for (const { name, stats } of models) lines.push(`shimmy_kv_cells_used{model="${name}"} ${stats.kvCellsUsed}`);
  // Where each model's engine thread spends its steps (native/inference/step_timings.h).
  lines.push('# TYPE shimmy_step_phase_seconds histogram');
  for (const { name, stats } of models) {
    for (const [phase, { seconds, counts }] of Object.entries(stats.phases)) {
      const labels = `model="${name}",phase="${phase}"`;
      let cumulative = 0;
      counts.forEach((n, i) => {
        cumulative += n;
        lines.push(`shimmy_step_phase_seconds_bucket{${labels},le="${i < stats.phaseBuckets.length ? stats.phaseBuckets[i] : '+Inf'}"} ${cumulative}`);
      });
      lines.push(`shimmy_step_phase_seconds_sum{${labels}} ${seconds}`, `shimmy_step_phase_seconds_count{${labels}} ${cumulative}`);
    }
  }
  lines.push('# TYPE shimmy_resident_memory_bytes gauge', `shimmy_resident_memory_bytes ${process.memoryUsage.rss()}`);
  lines.push('# TYPE shimmy_transport_info gauge', `shimmy_transport_info{transport="${c.transport.name}",description="${label(c.transport.description)}"} 1`);
  ex.send(200, 'text/plain; version=0.0.4', lines.join('\n') + '\n');
  return 200;
}

export const metricsRoutes: Route[] = [{ method: 'GET', path: '/metrics', handler: metrics }];
