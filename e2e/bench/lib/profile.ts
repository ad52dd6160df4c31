import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  name: string;
  where: string;
  selfMs: number;
  selfPct: number;
}

/** Self time per function of a V8 `.cpuprofile` (`node --cpu-prof`), hottest first. */
export function topFunctions(
  file: string,
  limit = 15,
  skipMs = 0,
): { totalMs: number; idlePct: number; top: HotFunction[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let elapsedUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    elapsedUs += profile.timeDeltas[i] ?? 0;
    if (elapsedUs < skipMs * 1000) continue; // start-up and set-up, not the measured load
    const id = profile.samples[i]!;
    // A sample lasts until the next one (as DevTools counts): the delta *before* it would give
    // the first function after a gap in sampling (a sleep, the core busy elsewhere) the whole gap.
    const last = i === profile.samples.length - 1;
    const durationUs = last
      ? Math.max(0, profile.endTime - profile.startTime - elapsedUs)
      : profile.timeDeltas[i + 1]!;
    self.set(id, (self.get(id) ?? 0) + durationUs);
  }
  const agg = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    total += us;
    if (f.functionName === '(idle)') idle += us;
    const where = f.url ? `${shorten(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const e = agg.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    agg.set(key, e);
  }
  const busy = total - idle;
  const top = [...agg.values()]
    .filter((e) => e.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({
      name: e.name,
      where: e.where,
      selfMs: e.us / 1000,
      selfPct: busy ? (100 * e.us) / busy : 0,
    }));
  return { totalMs: total / 1000, idlePct: total ? (100 * idle) / total : 0, top };
}

function shorten(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm !== -1) return u.slice(nm + 'node_modules/'.length);
  const m = /\/(api|shared-types|e2e)\/dist\/(.*)$/.exec(u);
  return m ? `${m[1]}/${m[2]}` : u;
}

export function newestProfiles(dir: string, since: number): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f))
      .filter((f) => statSync(f).mtimeMs >= since)
      .sort();
  } catch {
    return [];
  }
}
