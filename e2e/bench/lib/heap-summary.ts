/**
 * `node e2e/dist/bench/lib/heap-summary.js <file.heapsnapshot> [N]`: self size and count per
 * constructor in a V8 heap snapshot, biggest first, divided by N (e.g. the open streams) when
 * given. A quick answer to "what does one stream keep alive?".
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const [file, perArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: heap-summary <file.heapsnapshot> [divide-by]\n');
  process.exit(2);
}
const per = Number(perArg ?? 1) || 1;
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const iType = fields.indexOf('type');
const iName = fields.indexOf('name');
const iSize = fields.indexOf('self_size');
const agg = new Map<string, { count: number; size: number }>();
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]!]!;
  const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`;
  const key = type === 'closure' ? `closure ${name}` : name;
  const e = agg.get(key) ?? { count: 0, size: 0 };
  e.count++;
  e.size += snap.nodes[i + iSize]!;
  agg.set(key, e);
}
const rows = [...agg.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, 40);
for (const [name, e] of rows)
  process.stdout.write(
    `${(e.size / per).toFixed(0).padStart(8)} B  ${(e.count / per).toFixed(2).padStart(8)}×  ${name}\n`,
  );
