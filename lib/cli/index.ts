// The shimmy command line: this file only declares the sade program; each command is a module.
import sade from 'sade';
import { loadDefaults, serveMaxLoaded } from '../engine/defaults.js';
import { bench } from './bench.js';
import { describeError, routeLlamaLog, version } from './common.js';
import { diag } from './diag.js';
import { generate, generationFlags } from './generate.js';
import { discoverCommand, list } from './list.js';
import { memoryFlagDocs } from './memory-flags.js';
import { probe } from './probe.js';
import { DEFAULT_WORKER_BIND, worker } from './worker.js';

const commands = ['serve', 'generate', 'list', 'probe', 'bench', 'diag', 'discover', 'worker', 'pull', 'rm'];

function program() {
  const prog = sade('shimmy').version(version);
  prog.option('--model', 'Path to a GGUF model (default: SHIMMY_BASE_GGUF, or the first one found)')
    .option('--model-dirs', 'Extra model directories, separated by ; or , (also SHIMMY_MODEL_PATHS)')
    .option('--lora', 'A LoRA adapter for the default model, PATH[:SCALE] (repeatable; also SHIMMY_LORA_GGUF)')
    .option('--auto-lora', 'Pair adapter files (a name with lora or adapter and the model\'s) with the models beside them (on; --no-auto-lora: off)')
    .option('--mmproj', 'A vision projector (mmproj GGUF) for the default model (also SHIMMY_MMPROJ_GGUF; one beside a model is paired with it)')
    .option('--verbose', 'Enable verbose logging');

  const serveCommand = prog.command('serve').describe('Run the HTTP/WebSocket server (seed API, OpenAI API, /metrics).')
    .option('--bind', 'Address to listen on', '127.0.0.1:11435')
    .option('--port', 'Port (overrides the port of --bind)')
    .option('--api-key', 'Require the key ("Authorization: Bearer KEY" or "X-Api-Key: KEY") on every route but /api/health')
    .option('--parallel', 'Requests decoded together per model', loadDefaults.parallel)
    .option('--ctx-size', `Context tokens per request (default: min(${loadDefaults.contextSizeCap}, the model's))`)
    .option('--threads', 'CPU threads per model (default: up to the cores, fewer while other processes keep them busy)')
    .option('--backend-sampling', 'Sample inside the decode graph, on the GPU (experimental, as llama-server\'s; requests without grammar or logprobs)')
    .option('--max-loaded', 'Models kept loaded at once (least recently used is unloaded)', serveMaxLoaded)
    .option('--body-limit', 'Largest request body in bytes', 4 << 20)
    .option('--allow-origin', 'Browser origin allowed to call the API besides loopback pages (repeatable, comma-separated; * for any; also SHIMMY_ALLOW_ORIGINS)')
    .option('--allow-host', 'Host name allowed besides IP addresses, localhost and this machine\'s name (repeatable; * for any; also SHIMMY_ALLOW_HOSTS)')
    .option('--transport', 'HTTP server: uws, node, or auto (default auto: uws where its binary loads; also SHIMMY_TRANSPORT)')
    .option('--rpc', 'RPC workers to split the model over: HOST:PORT,… (shimmy worker on each; also SHIMMY_RPC_WORKERS)')
    .option('--alias', 'Serve requests for model names matching PATTERN with MODEL: PATTERN=MODEL, * any run of characters (repeatable, comma-separated; e.g. claude-*=default)')
    .option('--keep-alive', 'How long a model other than the default one stays loaded after its last request: 5m, 1h, seconds, 0, or -1 for until --max-loaded evicts it', '5m')
    .option('--allow-pull-host', "A host POST /api/pull may fetch from besides Ollama's registry and Hugging Face (repeatable, comma-separated; HOST[:PORT])")
    .option('--allow-image-urls', "Fetch images that chat messages name by http(s) URL (off: data URLs only); public addresses only, unless --allow-image-urls=any")
    .option('--ollama-bind', "Also listen here with Ollama's API on every path, /api/generate included (e.g. 127.0.0.1:11434; off by default)")
    .option('--responses-store', 'MiB of memory for stored Responses (previous_response_id; least recently used dropped first; 0: store none)', 64);
  for (const [flag, doc] of memoryFlagDocs) serveCommand.option(flag, doc);
  serveCommand
    .example('serve --bind 127.0.0.1:11435 --model ./models/stories260K.gguf')
    .example('serve --rpc 192.168.1.20:50052,192.168.1.21:50052 --model ./models/big.gguf')
    .example("serve --alias 'claude-*=default'  (for Claude Code)")
    .example('serve --cache-type-k q8_0 --cache-type-v q8_0 --kv-unified --parallel 16')
    .action(async (flags) => (await import('./serve.js')).serve(flags)); // uWS loads only for serve

  const generateCommand = prog.command('generate').describe('Generate text, streamed to stdout.')
    .option('--prompt', 'The prompt (required)')
    .option('--image', 'An image file to ask about (repeatable; a vision model: --mmproj): the prompt then goes through the model\'s chat template');
  for (const [flag, doc, fallback] of generationFlags()) generateCommand.option(flag, doc, fallback);
  generateCommand
    .option('--ctx-size', 'Context tokens')
    .option('--rpc', 'RPC workers to split the model over: HOST:PORT,… (shimmy worker on each; also SHIMMY_RPC_WORKERS)');
  for (const [flag, doc] of memoryFlagDocs) generateCommand.option(flag, doc);
  generateCommand
    .example('generate --prompt "Hello" --max-tokens 50 --temperature 0.7')
    .action((flags) => generate(flags));

  prog.command('list').describe('List the available models.')
    .option('--short', 'Model names only, one per line (for scripts)')
    .action((flags) => list(flags));
  prog.command('probe [model-name]').describe('Load a model and report whether and how it loads.')
    .option('--rpc', 'RPC workers to split the model over: HOST:PORT,… (shimmy worker on each; also SHIMMY_RPC_WORKERS)')
    .action((name, flags) => probe(name, flags));
  const benchCommand = prog.command('bench [model-name]').describe("Measure prompt processing and generation tok/s at 1 and --parallel streams, the model loaded as serve loads it (a table like llama-bench's).")
    .option('-p, --n-prompt', 'Prompt tokens per stream (0: no prompt test)', 512)
    .option('-n, --n-gen', 'Generated tokens per stream (0: no generation test)', 128)
    .option('-r, --repetitions', 'Timed runs per test, after one untimed', 5)
    .option('-o, --output', 'md (a table) or json', 'md')
    .option('--parallel', 'Streams of the second round, and the slots the model loads with', loadDefaults.parallel)
    .option('--ctx-size', "Context tokens per stream (default: serve's, or what a test needs if more)")
    .option('-t, --threads', 'CPU threads (default: as serve, up to the cores, fewer while other processes keep them busy)')
    .option('--rpc', 'RPC workers to split the model over: HOST:PORT,… (shimmy worker on each; also SHIMMY_RPC_WORKERS)');
  for (const [flag, doc] of memoryFlagDocs) benchCommand.option(flag, doc);
  benchCommand
    .example('bench --model ./models/stories260K.gguf')
    .example('bench qwen2.5:0.5b -p 2048 -n 64 --parallel 8 -o json')
    .action((name, flags) => bench(name, flags));
  prog.command('diag').describe('Print version, platform, CPU features, backends, server transport, model directories, memory.')
    .option('--transport', 'Report this transport choice: uws, node or auto')
    .option('--rpc', 'Also connect to these RPC workers (HOST:PORT,…) and list their devices')
    .action((flags) => diag(flags));
  prog.command('worker').describe('Lend this machine\'s devices to shimmy serve --rpc elsewhere (ggml\'s RPC server; no authentication: keep it on a private network).')
    .option('--bind', 'IPv4 address and port to listen on', DEFAULT_WORKER_BIND)
    .option('--threads', 'CPU threads for the CPU device (default: half the cores)')
    .option('--device', 'Devices to lend, by name (repeatable or comma-separated; default: every GPU, else the CPU; see shimmy diag)')
    .option('--mem', 'Report at most this many MiB per device to clients, which split layers by reported free memory')
    .example('worker --bind 0.0.0.0:50052 --threads 8')
    .action((flags) => worker(flags));
  prog.command('pull <source>').describe('Fetch a model: hf:org/repo[:QUANT], https://…/file.gguf, or an Ollama name [host/][namespace/]name[:tag].')
    .option('--insecure', 'Allow plain http (an Ollama registry or URL on this network)')
    .option('--offline', 'Make no request: succeed only if the model is already complete here')
    .example('pull hf:ggml-org/SmolLM3-3B-GGUF:Q4_K_M')
    .example('pull qwen2.5:0.5b')
    .action(async (source, flags) => (await import('./pull.js')).pullCommand(source, flags));
  prog.command('rm <name>').describe('Remove a pulled model (Hugging Face cache, Ollama store, or a models directory).')
    .action(async (name, flags) => (await import('./pull.js')).rmCommand(name, flags));
  prog.command('discover').describe('Show where models are searched for and what was found.').action((flags) => discoverCommand(flags));
  return prog;
}

// `--seed -1`, as llama.cpp's tools take it: sade's parser reads "-1" as a flag of its own, so a
// negative number right after a long option is joined to it (`--seed=-1`) before sade sees it.
function joinNegativeValues(args: string[]): string[] {
  const joined: string[] = [];
  for (const arg of args) {
    const option = joined.at(-1);
    if (/^-(\d+(\.\d*)?|\.\d+)$/.test(arg) && option?.startsWith('--') && !option.includes('=')) joined[joined.length - 1] = `${option}=${arg}`;
    else joined.push(arg);
  }
  return joined;
}

/** The seed's global flags that take no value, accepted before the command as after it. */
const GLOBAL_SWITCHES = new Set(['-v', '--verbose', '-h', '--help']);

// `shimmy -v generate …`: sade reads the word after a leading flag as that flag's value, so
// switches given before the command are moved after it.
function commandFirst(args: string[]): string[] {
  const at = args.findIndex((a) => !a.startsWith('-'));
  if (at <= 0 || !args.slice(0, at).every((a) => GLOBAL_SWITCHES.has(a))) return args;
  return [args[at]!, ...args.slice(0, at), ...args.slice(at + 1)];
}

// The seed's global flags are -v/--verbose and -V/--version; sade reserves -v for the version,
// so the flags are translated before sade sees them, and its help text is corrected to match.
export async function main(argv: string[]): Promise<void> {
  const args = commandFirst(argv.slice(2));
  if (args.includes('-V') || args.includes('--version')) {
    console.log(`shimmy ${version}`);
    return;
  }
  const translated = [...argv.slice(0, 2), ...joinNegativeValues(args.map((a) => (a === '-v' ? '--verbose' : a)))];
  const prog = program();
  const command = args.find((a) => !a.startsWith('-'));
  const wantsHelp = args.includes('-h') || args.includes('--help');
  if (!wantsHelp && !commands.includes(command ?? '')) {
    process.stderr.write(command ? `shimmy: unknown command '${command}' (see 'shimmy --help')\n` : "shimmy: no command given (see 'shimmy --help')\n");
    process.exitCode = 1;
    return;
  }
  const help = prog.help.bind(prog);
  prog.help = (cmd?: string) => {
    const log = console.log;
    console.log = (text: string) => log(text.replace('-v, --version    Displays current version', '-V, --version    Displays current version').replace('--verbose       ', '-v, --verbose   '));
    try {
      help(cmd);
    } finally {
      console.log = log;
    }
  };
  try {
    // Only the commands that load a model load the addon for it.
    if (translated.includes('--verbose') && ['serve', 'generate', 'probe', 'bench', 'worker'].includes(command ?? '')) routeLlamaLog();
    await prog.parse(translated, {
      unknown: (flag: string) => {
        throw new Error(`unknown option '${flag}' (see 'shimmy --help')`);
      },
    });
  } catch (error) {
    process.stderr.write(`shimmy: ${describeError(error)}\n`);
    process.exitCode = 1;
  }
}
