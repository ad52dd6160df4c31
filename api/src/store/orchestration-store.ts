import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type TaskDoc } from '../db/types.js';
import { isDuplicateKeyError } from '../db/connect.js';

export type StepStatus = 'started' | 'completed' | 'failed' | 'skipped';

export interface StepInput {
  name: string;
  status: StepStatus;
  detail?: Record<string, unknown>;
}

export interface StepDoc extends StepInput {
  taskId: string;
  stepIndex: number;
  createdAt: Date;
}

export interface CheckpointDoc {
  taskId: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** What a snapshot carries of a task's orchestration: where it stands, even after messages expire. */
export interface OrchestrationSummary {
  stepCount: number;
  recentSteps: Array<StepInput & { stepIndex: number; at: string }>;
  checkpoint?: { data: Record<string, unknown>; at: string };
}

const RECENT_STEPS = 10;

/**
 * A task's long-running plan: append-only steps and resumable checkpoints (kept for the task's
 * lifetime, unlike its messages). The task document holds the summary the snapshot shows.
 */
export class OrchestrationStore {
  readonly steps: Collection<StepDoc>;
  readonly checkpoints: Collection<CheckpointDoc>;
  readonly tasks: Collection<TaskDoc>;

  constructor(db: Db) {
    this.steps = db.collection<StepDoc>(COLLECTIONS.orchestrationSteps);
    this.checkpoints = db.collection<CheckpointDoc>(COLLECTIONS.orchestrationCheckpoints);
    this.tasks = db.collection<TaskDoc>(COLLECTIONS.tasks);
  }

  /** Appends steps (indexes allocated after the last stored one; the unique index arbitrates). */
  async recordSteps(taskId: string, inputs: StepInput[]): Promise<number[]> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const top = await this.steps.findOne(
        { taskId },
        { sort: { stepIndex: -1 }, projection: { stepIndex: 1 } },
      );
      const first = (top?.stepIndex ?? 0) + 1;
      const now = new Date();
      const docs = inputs.map((s, i) => ({ ...s, taskId, stepIndex: first + i, createdAt: now }));
      try {
        await this.steps.insertMany(docs, { ordered: true });
      } catch (error) {
        if (isDuplicateKeyError(error)) continue;
        throw error;
      }
      await this.#refreshSummary(taskId);
      return docs.map((d) => d.stepIndex);
    }
    throw new Error('Could not allocate orchestration step indexes');
  }

  async saveCheckpoint(taskId: string, data: Record<string, unknown>): Promise<void> {
    await this.checkpoints.insertOne({ taskId, data, createdAt: new Date() });
    await this.#refreshSummary(taskId);
  }

  async summary(taskId: string): Promise<OrchestrationSummary | undefined> {
    const [recent, stepCount, checkpoint] = await Promise.all([
      this.steps.find({ taskId }, { sort: { stepIndex: -1 }, limit: RECENT_STEPS }).toArray(),
      this.steps.countDocuments({ taskId }),
      this.checkpoints.findOne({ taskId }, { sort: { createdAt: -1 } }),
    ]);
    if (stepCount === 0 && !checkpoint) return undefined;
    return {
      stepCount,
      recentSteps: recent.reverse().map((s) => ({
        stepIndex: s.stepIndex,
        name: s.name,
        status: s.status,
        ...(s.detail ? { detail: s.detail } : {}),
        at: s.createdAt.toISOString(),
      })),
      ...(checkpoint
        ? { checkpoint: { data: checkpoint.data, at: checkpoint.createdAt.toISOString() } }
        : {}),
    };
  }

  async #refreshSummary(taskId: string): Promise<void> {
    const orchestration = await this.summary(taskId);
    await this.tasks.updateOne({ _id: taskId }, { $set: { orchestration } });
  }
}

/**
 * Retention: orchestration data of tasks that finished more than `retentionMs` ago. Idempotent
 * (a second run finds nothing) and batched, so it never holds the database for long.
 */
export async function pruneFinishedOrchestrations(
  db: Db,
  now: Date,
  retentionMs: number,
  batchSize = 500,
): Promise<number> {
  const tasks = db.collection<TaskDoc>(COLLECTIONS.tasks);
  const cutoff = new Date(now.getTime() - retentionMs);
  let removed = 0;
  let lastId = '';
  for (;;) {
    const finished = await tasks
      .find(
        { final: true, updatedAt: { $lt: cutoff }, _id: { $gt: lastId }, orchestration: { $exists: true } },
        { projection: { _id: 1 }, sort: { _id: 1 }, limit: batchSize },
      )
      .toArray();
    if (finished.length === 0) break;
    const ids = finished.map((t) => t._id);
    lastId = ids[ids.length - 1]!;
    const [steps, checkpoints] = await Promise.all([
      db.collection(COLLECTIONS.orchestrationSteps).deleteMany({ taskId: { $in: ids } }),
      db.collection(COLLECTIONS.orchestrationCheckpoints).deleteMany({ taskId: { $in: ids } }),
    ]);
    await tasks.updateMany({ _id: { $in: ids } }, { $unset: { orchestration: '' } });
    removed += steps.deletedCount + checkpoints.deletedCount;
    if (finished.length < batchSize) break;
  }
  return removed;
}
