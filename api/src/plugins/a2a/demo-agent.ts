/**
 * The demo simulator's per-message behaviours over A2A (`/agent-to-agent/demo/simulator`): a
 * client or a conformance suite picks the outcome of each message, so every state can be driven.
 * The scripts are pure (tests read them); `DemoAgent` plays them through the event log, like any
 * agent's events.
 */
import { randomUUID } from 'node:crypto';
import { RequestMalformedError } from '@a2a-js/sdk/errors';
import Joi from 'joi';
import {
  DEMO_AGENT,
  DEMO_ORG,
  type WireMessage,
  type WireStreamResponse,
  type WireTaskState,
} from '@orchestrator-ai/transport-types';
import type { TaskDoc } from '../../db/types.js';
import type { EventLog } from '../../store/event-log.js';
import { buildScript, SIMULATE_DEFAULTS, type SimulateOptions } from '../simulator/simulator.js';
import { TaskTimers } from '../simulator/task-timers.js';

export const BEHAVIOURS = [
  'complete',
  'input-required',
  'artifacts',
  'message',
  'reject',
  'fail',
  'stream',
] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

export const BEHAVIOUR_HELP: Record<Behaviour, string> = {
  complete: 'completes at once with a reply',
  'input-required': 'asks for input and stays open until the next message on the task, then completes',
  artifacts: 'one artifact of each part kind (text, url, raw bytes, data), chunked with append/lastChunk',
  message: 'answers with a direct Message instead of a task',
  reject: 'rejects the task',
  fail: 'starts working, then fails',
  stream: 'works step by step with progress and a chunked report (the SendStreamingMessage default)',
};

/** Pause between the events of the short behaviours (the long `stream` one has its own). */
const SHORT_INTERVAL_MS = 20;

const simulateSchema = Joi.object({
  steps: Joi.number().integer().min(1).max(10_000),
  intervalMs: Joi.number().integer().min(0).max(60_000),
  fail: Joi.boolean(),
  failAtStep: Joi.number().integer().min(1),
  chunkSize: Joi.number().integer().min(1).max(10_000),
})
  .unknown(false)
  .label('simulate');

export interface SelectInput {
  /** `metadata` of the message, then of the request: `behavior` there wins over the text. */
  metadata: Array<Record<string, unknown> | undefined>;
  /** The message's first text part. */
  text: string | undefined;
}

/**
 * The behaviour a message asks for: `metadata.behavior` (message first, then request), else the
 * first word of the text when it names one (`"fail"`, `"artifacts please"`), else the fallback.
 * An unknown `metadata.behavior` is the client's invalid params.
 */
export function selectBehaviour(input: SelectInput, fallback?: Behaviour): Behaviour | undefined {
  for (const metadata of input.metadata) {
    const asked = metadata?.behavior;
    if (asked === undefined) continue;
    if (typeof asked === 'string' && (BEHAVIOURS as readonly string[]).includes(asked))
      return asked as Behaviour;
    throw new RequestMalformedError(`metadata.behavior must be one of: ${BEHAVIOURS.join(', ')}`);
  }
  const text = input.text?.trim().toLowerCase() ?? '';
  for (const behaviour of BEHAVIOURS) {
    if (text === behaviour || (text.startsWith(behaviour) && /^[^\w-]/.test(text.slice(behaviour.length))))
      return behaviour;
  }
  return fallback;
}

/** `metadata.simulate` of a request, checked (a bad value is the client's invalid params). */
export function parseSimulate(value: unknown): Partial<SimulateOptions> | undefined {
  if (value === undefined) return undefined;
  const { error, value: parsed } = simulateSchema.validate(value);
  if (error) throw new RequestMalformedError(`metadata.${error.message.replace(/^"/, '').replace(/"/, '')}`);
  return parsed as Partial<SimulateOptions>;
}

type TaskRef = Pick<TaskDoc, '_id' | 'contextId'>;

function agentMessage(text: string, task?: TaskRef): WireMessage {
  return {
    messageId: randomUUID(),
    role: 'ROLE_AGENT',
    parts: [{ text }],
    ...(task ? { taskId: task._id, contextId: task.contextId } : {}),
  };
}

function status(task: TaskRef, state: WireTaskState, text: string): WireStreamResponse {
  // No timestamp: the event log stamps each status when it is stored.
  return {
    statusUpdate: {
      taskId: task._id,
      contextId: task.contextId,
      status: { state, message: agentMessage(text, task) },
    },
  };
}

function artifact(
  task: TaskRef,
  artifactId: string,
  name: string,
  part: Record<string, unknown>,
  append: boolean,
  lastChunk: boolean,
): WireStreamResponse {
  return {
    artifactUpdate: {
      taskId: task._id,
      contextId: task.contextId,
      artifact: { artifactId, name, parts: [part as never] },
      append,
      lastChunk,
    },
  };
}

const quote = (text: string | undefined) =>
  text ? `"${text.length > 200 ? `${text.slice(0, 200)}…` : text}"` : 'your message';

/** The direct answer of the `message` behaviour (no task is created). */
export function directReply(message: Pick<WireMessage, 'contextId'>, text: string | undefined): WireMessage {
  return {
    messageId: randomUUID(),
    role: 'ROLE_AGENT',
    contextId: message.contextId || randomUUID(),
    parts: [{ text: `Hello from the demo simulator. You said ${quote(text)}.` }],
  };
}

const RAW_BYTES = Buffer.from([0x00, 0x01, 0x02, 0x03, 0xfe, 0xff, 0x41, 0x32, 0x41, 0x0a]);
const URL_TEXT = 'Hello from a url part.\n';

/**
 * The batches of events a behaviour appends, in order (each batch is one append; a pause of
 * `intervalMs` between them). `message` has none: it answers without a task.
 */
export function behaviourScript(
  behaviour: Behaviour,
  task: TaskRef,
  text: string | undefined,
  simulate: Partial<SimulateOptions> = {},
): WireStreamResponse[][] {
  switch (behaviour) {
    case 'message':
    case 'complete': {
      const reply = `Done. You said ${quote(text)}.`;
      return [
        [
          status(task, 'TASK_STATE_WORKING', 'Working on it'),
          artifact(task, 'reply', 'Reply', { text: reply }, false, true),
          status(task, 'TASK_STATE_COMPLETED', reply),
        ],
      ];
    }
    case 'input-required':
      return [
        [status(task, 'TASK_STATE_INPUT_REQUIRED', 'I need more input: reply to this task to continue.')],
      ];
    case 'reject':
      return [
        [status(task, 'TASK_STATE_REJECTED', 'Rejected: the simulator was asked to reject this task.')],
      ];
    case 'fail':
      return [
        [status(task, 'TASK_STATE_WORKING', 'Starting work')],
        [status(task, 'TASK_STATE_FAILED', 'Failed: the simulated tool timed out.')],
      ];
    case 'artifacts': {
      const half = RAW_BYTES.length / 2;
      return [
        [status(task, 'TASK_STATE_WORKING', 'Producing one artifact of each part kind')],
        [
          artifact(
            task,
            'text',
            'Text',
            { text: 'The quick brown fox ', mediaType: 'text/plain' },
            false,
            false,
          ),
        ],
        [artifact(task, 'text', 'Text', { text: 'jumps over ', mediaType: 'text/plain' }, true, false)],
        [artifact(task, 'text', 'Text', { text: 'the lazy dog.', mediaType: 'text/plain' }, true, true)],
        [
          artifact(
            task,
            'url',
            'Url',
            {
              url: `data:text/plain;base64,${Buffer.from(URL_TEXT).toString('base64')}`,
              filename: 'hello.txt',
              mediaType: 'text/plain',
            },
            false,
            true,
          ),
        ],
        [
          artifact(
            task,
            'raw',
            'Raw bytes',
            {
              raw: RAW_BYTES.subarray(0, half).toString('base64'),
              filename: 'bytes.bin',
              mediaType: 'application/octet-stream',
            },
            false,
            false,
          ),
        ],
        [
          artifact(
            task,
            'raw',
            'Raw bytes',
            {
              raw: RAW_BYTES.subarray(half).toString('base64'),
              filename: 'bytes.bin',
              mediaType: 'application/octet-stream',
            },
            true,
            true,
          ),
        ],
        [
          artifact(
            task,
            'data',
            'Data',
            {
              data: { kind: 'summary', parts: ['text', 'url', 'raw', 'data'], ok: true },
              mediaType: 'application/json',
            },
            false,
            true,
          ),
        ],
        [status(task, 'TASK_STATE_COMPLETED', 'Produced one artifact of each part kind.')],
      ];
    }
    case 'stream':
      return buildScript(task, { ...SIMULATE_DEFAULTS, ...simulate });
  }
}

/** The demo's raw bytes, for tests. */
export const DEMO_RAW_BYTES = RAW_BYTES;
export const DEMO_URL_TEXT = URL_TEXT;

interface Logger {
  warn(obj: object, msg: string): void;
}

/** Plays behaviour scripts on demo tasks; one timer per running task. */
export class DemoAgent {
  readonly #timers = new TaskTimers();

  constructor(
    private readonly log: EventLog,
    private readonly logger?: Logger,
  ) {}

  handles(org: string, agent: string): boolean {
    return org === DEMO_ORG && agent === DEMO_AGENT;
  }

  /** Starts a new task's behaviour. */
  start(task: TaskDoc, behaviour: Behaviour, text: string | undefined): void {
    this.#play(task, behaviour, text);
  }

  /**
   * A follow-up message on a task. A task waiting for input continues with the behaviour the
   * message asks for (default: complete); on any other state the message is only recorded.
   */
  followUp(task: TaskDoc, behaviour: Behaviour | undefined, text: string | undefined): void {
    if (task.status.state !== 'TASK_STATE_INPUT_REQUIRED') return;
    this.#play(task, behaviour === undefined || behaviour === 'message' ? 'complete' : behaviour, text);
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

  #play(task: TaskDoc, behaviour: Behaviour, text: string | undefined): void {
    const simulate = (task.metadata.simulate as Partial<SimulateOptions> | undefined) ?? {};
    const batches = behaviourScript(behaviour, task, text, simulate);
    const interval =
      behaviour === 'stream'
        ? (simulate.intervalMs ?? SIMULATE_DEFAULTS.intervalMs)
        : (simulate.intervalMs ?? SHORT_INTERVAL_MS);
    this.stop(task._id);
    let index = 0;
    const next = () => {
      const batch = batches[index++];
      if (!batch) return this.#timers.delete(task._id);
      this.log.append(task._id, batch).then(
        () => {
          if (index >= batches.length) return this.#timers.delete(task._id);
          if (this.#timers.has(task._id)) this.#timers.set(task._id, setTimeout(next, interval));
        },
        (error: unknown) => {
          this.#timers.delete(task._id);
          // A canceled task refuses further events: that ends the behaviour, quietly.
          if ((error as { output?: { statusCode?: number } }).output?.statusCode !== 409)
            this.logger?.warn({ taskId: task._id, err: error }, 'demo agent append failed');
        },
      );
    };
    // The first batch goes out on the next tick: the caller subscribes before it lands.
    this.#timers.set(task._id, setTimeout(next, behaviour === 'stream' ? Math.min(interval, 100) : 0));
  }
}
