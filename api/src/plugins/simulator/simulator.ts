import { randomUUID } from 'node:crypto';
import { DEMO_AGENT, DEMO_ORG, type WireStreamResponse } from '@orchestrator-ai/transport-types';
import type { TaskDoc } from '../../db/types.js';
import type { EventLog } from '../../store/event-log.js';
import type { OrchestrationStore } from '../../store/orchestration-store.js';
import { TaskTimers } from './task-timers.js';

export interface SimulateOptions {
  steps: number;
  intervalMs: number;
  fail: boolean;
  failAtStep?: number;
  chunkSize: number;
}

export const SIMULATE_DEFAULTS: SimulateOptions = { steps: 10, intervalMs: 500, fail: false, chunkSize: 24 };

const REPORT = [
  'Collected the sources. ',
  'Read and summarised each one. ',
  'Cross-checked the figures against the originals. ',
  'Drafted the findings with their evidence. ',
  'Reviewed the draft for gaps and contradictions. ',
];

/**
 * The built-in demo agent at /agent-to-agent/demo/simulator: it works on its own tasks, emitting
 * status updates with progress and a report artifact streamed chunk by chunk, then completes
 * (or fails, when asked). Its events go through the same event log as any agent's.
 */
export class Simulator {
  readonly #timers = new TaskTimers();

  constructor(
    private readonly log: EventLog,
    private readonly logger?: { warn(obj: object, msg: string): void },
    private readonly orchestration?: Pick<OrchestrationStore, 'recordSteps' | 'saveCheckpoint'>,
  ) {}

  handles(task: Pick<TaskDoc, 'org' | 'agent'>): boolean {
    return task.org === DEMO_ORG && task.agent === DEMO_AGENT;
  }

  start(task: TaskDoc): void {
    const options = {
      ...SIMULATE_DEFAULTS,
      ...(task.metadata.simulate as Partial<SimulateOptions> | undefined),
    };
    const script = buildScript(task, options);
    let index = 0;
    const next = () => {
      const events = script[index++];
      if (!events) return this.#timers.delete(task._id);
      const step = index - 1;
      this.log.append(task._id, events).then(
        async () => {
          // The plan's progress outlives the messages: a step per tick and a checkpoint to resume.
          if (this.orchestration && step > 0) {
            const done = step >= script.length - 1;
            await this.orchestration
              .recordSteps(task._id, [
                { name: `step ${Math.min(step, options.steps)}`, status: done ? 'completed' : 'started' },
              ])
              .then(() =>
                this.orchestration!.saveCheckpoint(task._id, {
                  completedSteps: Math.min(step, options.steps),
                  of: options.steps,
                }),
              )
              .catch((error: unknown) =>
                this.logger?.warn({ taskId: task._id, err: error }, 'simulator orchestration write failed'),
              );
          }
          if (index >= script.length) return this.#timers.delete(task._id);
          if (this.#timers.has(task._id)) this.#timers.set(task._id, setTimeout(next, options.intervalMs));
        },
        (error: unknown) => {
          // A canceled task refuses further events: that ends the simulation, quietly.
          this.#timers.delete(task._id);
          if ((error as { output?: { statusCode?: number } }).output?.statusCode !== 409)
            this.logger?.warn({ taskId: task._id, err: error }, 'simulator append failed');
        },
      );
    };
    this.#timers.set(task._id, setTimeout(next, Math.min(options.intervalMs, 100)));
  }

  stop(taskId: string): void {
    this.#timers.stop(taskId);
  }

  stopAll(): void {
    this.#timers.stopAll();
  }

  get running(): number {
    return this.#timers.size;
  }
}

/** Every tick's events, in order; pure so tests can read the script. */
export function buildScript(
  task: Pick<TaskDoc, '_id' | 'contextId'>,
  options: SimulateOptions,
): WireStreamResponse[][] {
  const status = (
    state: 'TASK_STATE_WORKING' | 'TASK_STATE_COMPLETED' | 'TASK_STATE_FAILED',
    text: string,
    progress?: number,
  ): WireStreamResponse => ({
    statusUpdate: {
      taskId: task._id,
      contextId: task.contextId,
      status: {
        // No timestamp: the event log stamps each status when it is stored.
        state,
        message: { messageId: randomUUID(), role: 'ROLE_AGENT', parts: [{ text }] },
      },
      ...(progress === undefined ? {} : { metadata: { progress } }),
    },
  });
  const failAt = options.fail ? (options.failAtStep ?? Math.ceil(options.steps / 2)) : undefined;
  const script: WireStreamResponse[][] = [[status('TASK_STATE_WORKING', 'Starting work', 0)]];
  for (let step = 1; step <= options.steps; step++) {
    if (failAt !== undefined && step === failAt) {
      script.push([
        status('TASK_STATE_FAILED', `Step ${step} of ${options.steps} failed: the simulated tool timed out`),
      ]);
      return script;
    }
    const text = REPORT[(step - 1) % REPORT.length]!;
    const chunks: WireStreamResponse[] = [];
    for (let i = 0; i < text.length; i += options.chunkSize) {
      chunks.push({
        artifactUpdate: {
          taskId: task._id,
          contextId: task.contextId,
          artifact: {
            artifactId: 'report',
            name: 'Report',
            parts: [{ text: text.slice(i, i + options.chunkSize) }],
          },
          append: step > 1 || i > 0,
          lastChunk: step === options.steps && i + options.chunkSize >= text.length,
        },
      });
    }
    script.push([
      status('TASK_STATE_WORKING', `Step ${step} of ${options.steps}`, step / options.steps),
      ...chunks,
    ]);
  }
  script.push([status('TASK_STATE_COMPLETED', `Done: ${options.steps} steps completed`, 1)]);
  return script;
}
