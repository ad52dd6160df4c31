/**
 * `node e2e/dist/bench/lib/heap-summary.js <after> [before] [N]`: self size and count per
 * constructor in a V8 heap snapshot, biggest first, divided by N (e.g. the open streams) when
 * given. A quick answer to "what does one stream keep alive?".
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const args = process.argv.slice(2);
const [file] = args;
if (!file) {
  process.stderr.write('usage: heap-summary <after.heapsnapshot> [before.heapsnapshot] [divide-by]\n');
  process.exit(2);
}
const baseFile = args[1] && !/^\d+$/.test(args[1]) ? args[1] : undefined;
const per = Number(args.find((a) => /^\d+$/.test(a)) ?? 1) || 1;

function aggregate(path: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const agg = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name =
      type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`;
    const key = type === 'closure' ? `closure ${name}` : name;
    const e = agg.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + iSize]!;
    agg.set(key, e);
  }
  return agg;
}

const after = aggregate(file);
const before = baseFile ? aggregate(baseFile) : new Map<string, { count: number; size: number }>();
const rows = [...after.entries()]
  .map(([name, e]) => {
    const b = before.get(name) ?? { count: 0, size: 0 };
    return { name, count: e.count - b.count, size: e.size - b.size };
  })
  .sort((a, b) => b.size - a.size)
  .slice(0, 40);
let total = 0;
for (const [name, e] of after) total += e.size - (before.get(name)?.size ?? 0);
process.stdout.write(
  `${baseFile ? 'growth' : 'heap'} ${(total / per).toFixed(0)} B${per > 1 ? ` per ${per === 1 ? '' : 'unit'}` : ''}\n`,
);
for (const e of rows)
  process.stdout.write(
    `${(e.size / per).toFixed(0).padStart(8)} B  ${(e.count / per).toFixed(2).padStart(8)}×  ${e.name}\n`,
  );
