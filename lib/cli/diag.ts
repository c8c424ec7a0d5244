import { arch, cpus, freemem, platform, release, totalmem } from 'node:os';
import { binaryChoice, native } from '../native.js';
import { chooseTransport, transportChoice } from '../server/transport/index.js';
import { discover, formatSize, rpcWorkers, version, type CommonFlags } from './common.js';
import { describeWorker } from './worker.js';

export async function diag(flags: CommonFlags & { transport?: string; rpc?: string | string[] }): Promise<void> {
  const info = native().systemInfo();
  const discovery = discover(flags);
  const features = Object.entries(info.cpuFeatures).filter(([, on]) => on).map(([name]) => name);
  console.log(`shimmy:        ${version}`);
  console.log(`node:          ${process.version} (N-API ${process.versions.napi})`);
  console.log(`platform:      ${platform()} ${release()} ${arch()}`);
  console.log(`cpu:           ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`);
  console.log(`cpu features:  ${features.join(' ') || 'none detected'}`);
  const binary = binaryChoice();
  console.log(`binary:        ${binary.kind} ${binary.path}`);
  for (const other of binary.passedOver) console.log(`  not taken:   ${other}`);
  // llama.cpp counts the RPC backend as offload; what matters here is a GPU on this machine.
  const gpus = info.devices.filter((d) => d.type === 'gpu').length;
  console.log(`backend:       compiled ${info.gpuBackend}${info.rpc ? ' + rpc (shimmy worker, --rpc)' : ''}; GPU offload ${gpus ? `to ${gpus} GPU(s)` : 'not available (no GPU found)'}`);
  for (const d of info.devices) {
    console.log(`device:        ${d.name} (${d.type}) ${d.description}${d.memoryTotal ? `, ${formatSize(d.memoryFree)} free of ${formatSize(d.memoryTotal)}` : ''}${d.bufferType ? `; buffer ${d.bufferType}` : ''}`);
  }
  const { transport, notice } = chooseTransport(transportChoice(flags.transport ?? process.env.SHIMMY_TRANSPORT));
  console.log(`server:        ${transport.description}${notice ? ` (${notice.replace(/^shimmy: serving with node:http: /, '')})` : ''}`);
  console.log(`memory:        ${formatSize(freemem())} free of ${formatSize(totalmem())}; this process ${formatSize(process.memoryUsage.rss())}`);
  console.log('model dirs:');
  for (const place of discovery.searched) console.log(`  ${place.exists ? 'found  ' : 'missing'} ${place.source.padEnd(11)} ${place.path}`);
  console.log(`models found:  ${discovery.models.length}${discovery.base ? ` (default: ${discovery.base.id})` : ''}`);
  for (const endpoint of rpcWorkers(flags)) {
    try {
      const [w] = await native().probeWorkers([endpoint]);
      console.log(`rpc worker:    ${describeWorker(w!)}`);
    } catch (error) {
      console.log(`rpc worker:    ${endpoint}: ${(error as Error).message}`);
      process.exitCode = 1;
    }
  }
  if (flags.verbose) console.log(`llama.cpp:     ${info.llamaSystemInfo}`);
}
