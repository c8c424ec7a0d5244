// Which transport a server suite runs on: test/<suite>.<transport>.test.mjs sets it, so each
// suite runs once per transport, each in its own process. uWebSockets.js is skipped, with the
// reason printed, where none of its binaries loads (Node 22+ on glibc < 2.38).
import { loadUws } from '../../dist/server/transport/uws.js';

export function transportUnderTest() {
  const name = process.env.SHIMMY_TEST_TRANSPORT ?? 'auto';
  if (name === 'uws') {
    const loaded = loadUws();
    if ('reason' in loaded) return { name, skip: `no uWebSockets.js binary loads on Node ${process.versions.node} here (${loaded.reason})` };
  }
  return { name, skip: false };
}
