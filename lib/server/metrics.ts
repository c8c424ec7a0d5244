// GET /metrics in Prometheus' text format: requests by route and status, tokens, slots, memory.
import type { TemplatedApp } from 'uWebSockets.js';
import type { ServerContext } from './context.js';
import { route } from './native-api.js';

export function mountMetrics(app: TemplatedApp, ctx: ServerContext): void {
  app.get('/metrics', route(ctx, 'GET /metrics', (c, ex) => {
    const lines = ['# TYPE shimmy_requests_total counter'];
    for (const [key, n] of c.metrics.requests) {
      const [method, path, status] = key.split(' ');
      lines.push(`shimmy_requests_total{method="${method}",route="${path}",status="${status}"} ${n}`);
    }
    lines.push('# TYPE shimmy_tokens_generated_total counter', `shimmy_tokens_generated_total ${c.metrics.tokensGenerated}`);
    lines.push('# TYPE shimmy_requests_in_flight gauge', `shimmy_requests_in_flight ${c.inFlight.size}`);
    lines.push('# TYPE shimmy_models_loaded gauge', `shimmy_models_loaded ${c.registry.loadedCount}`);
    lines.push('# TYPE shimmy_slots_busy gauge');
    for (const model of c.registry.loadedModels()) {
      const s = model.stats();
      lines.push(`shimmy_slots_busy{model="${model.info.name || model.path}"} ${s.slotsBusy}`);
    }
    lines.push('# TYPE shimmy_resident_memory_bytes gauge', `shimmy_resident_memory_bytes ${process.memoryUsage.rss()}`);
    if (!ex.open) return 499;
    ex.finished = true;
    ex.res.cork(() => ex.res.writeStatus('200 OK').writeHeader('Content-Type', 'text/plain; version=0.0.4').end(lines.join('\n') + '\n'));
    return 200;
  }));
}
