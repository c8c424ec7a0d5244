// A client that stops reading a stream, run inside the network namespace of the server under
// test (test/slow-client.test.mjs): it sends one streamed chat request on a raw socket, reads
// nothing until the server's /metrics show generation has stopped with the request unfinished,
// then reads the rest. Prints one JSON line: tokens generated while it did not read, whether
// generation stood still, and the whole stream.
//   node slow-reader.mjs PORT BODY_JSON
import { connect } from 'node:net';

const [port, body] = [Number(process.argv[2]), process.argv[3]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function generated() {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^shimmy_tokens_generated_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}
async function engineTokens() {
  // tokens_generated_total counts finished requests; the engine's own count moves every step.
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^shimmy_step_phase_seconds_count\{[^}]*phase="decode"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

const socket = connect(port, '127.0.0.1');
await new Promise((r) => socket.once('connect', r));
socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
const chunks = [];
socket.on('data', (c) => chunks.push(c));
socket.pause(); // reads nothing from here on
let steps = -1;
let still = false;
for (let t = 0; t < 600; t++) {
  await sleep(100);
  const now = await engineTokens();
  if (now === steps) {
    still = true;
    break;
  }
  steps = now;
}
await sleep(500);
const stillAfter = (await engineTokens()) === steps;
const finishedWhilePaused = (await generated()) > 0;
socket.resume();
await new Promise((r) => socket.once('end', r));
console.log(JSON.stringify({ still, stillAfter, finishedWhilePaused, response: Buffer.concat(chunks).toString('utf8') }));
