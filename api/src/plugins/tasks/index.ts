import type { Plugin, Request, Server } from '@hapi/hapi';
import Joi from 'joi';
import {
  ErrorCode,
  routes,
  ROUTE_PATTERNS,
  type AppendResponse,
  type MessagesPage,
  type StreamTokenResponse,
  type WireMessage,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { mintStreamToken } from '../../auth/tokens.js';
import type { Metrics } from '../../observability/metrics.js';
import type { EventLog } from '../../store/event-log.js';
import { domainError, taskFinal, taskNotFound } from '../../store/errors.js';
import { toWireTask, type TaskStore } from '../../store/task-store.js';
import type { TaskDoc } from '../../db/types.js';
import { STRATEGY } from '../auth/index.js';
import type { OrchestrationStore, StepInput } from '../../store/orchestration-store.js';
import { appendPayloadSchema, partSchema } from './event-schema.js';

export interface TasksOptions {
  config: Config;
  tasks: TaskStore;
  log: EventLog;
  metrics: Metrics;
  /** Called after a task is created (the demo simulator starts working on it). */
  onCreated?: (task: TaskDoc) => void;
  /** Called after a task is canceled. */
  onCanceled?: (taskId: string) => void;
  orchestration: OrchestrationStore;
}

const name = Joi.string()
  .min(1)
  .max(200)
  .pattern(/^[\w.-]+$/);
const agentParams = Joi.object({ org: name.required(), agent: name.required() });
const taskParams = agentParams.keys({ taskId: Joi.string().min(1).max(200).required() });

type UserCredentials = { kind: 'user'; sub: string };
type AgentCredentials = { kind: 'agent'; org: string; agent: string };

/** The task routes of DESIGN.md's HTTP contract (everything but the stream itself). */
export const tasksPlugin: Plugin<TasksOptions> = {
  name: 'tasks',
  dependencies: ['auth'],
  register(server: Server, options: TasksOptions) {
    const { config, tasks, log, metrics } = options;

    const ownedTask = async (request: Request): Promise<TaskDoc> => {
      const { org, agent, taskId } = request.params as { org: string; agent: string; taskId: string };
      const user = request.auth.credentials as unknown as UserCredentials;
      const task = await tasks.getOwned(org, agent, taskId, user.sub);
      // Another user's task answers exactly like an unknown one.
      if (!task) throw taskNotFound();
      return task;
    };

    /** The org/agent/task an agent route addresses; the agent token must be bound to that org/agent. */
    const agentParamsOf = (request: Request) => {
      const params = request.params as { org: string; agent: string; taskId: string };
      const credentials = request.auth.credentials as unknown as AgentCredentials;
      if (credentials.org !== params.org || credentials.agent !== params.agent)
        throw domainError(ErrorCode.Forbidden, 403, 'This agent token is bound to another agent');
      return params;
    };

    /** The task an agent route addresses, when it belongs to the token's org/agent. */
    const agentTask = async (request: Request): Promise<TaskDoc> => {
      const { org, agent, taskId } = agentParamsOf(request);
      const task = await tasks.get(taskId);
      if (!task || task.org !== org || task.agent !== agent) throw taskNotFound();
      return task;
    };

    server.route({
      method: 'POST',
      path: ROUTE_PATTERNS.tasks,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: 'Create a task',
        tags: ['api', 'tasks'],
        validate: {
          params: agentParams,
          payload: Joi.object({
            contextId: Joi.string().min(1).max(200),
            message: Joi.object({
              messageId: Joi.string().max(200),
              role: Joi.string().valid('ROLE_USER'),
              parts: Joi.array().items(partSchema).min(1).required(),
              metadata: Joi.object().unknown(true),
            }),
            metadata: Joi.object({
              simulate: Joi.object({
                steps: Joi.number().integer().min(1).max(10_000),
                intervalMs: Joi.number().integer().min(0).max(60_000),
                fail: Joi.boolean(),
                failAtStep: Joi.number().integer().min(1),
                chunkSize: Joi.number().integer().min(1).max(10_000),
              }),
            }).unknown(true),
          })
            .allow(null)
            .label('CreateTaskRequest'),
        },
      },
      async handler(request, h) {
        const { org, agent } = request.params as { org: string; agent: string };
        const user = request.auth.credentials as unknown as UserCredentials;
        const body = (request.payload ?? {}) as {
          contextId?: string;
          message?: Omit<WireMessage, 'messageId' | 'role'> & Partial<WireMessage>;
          metadata?: Record<string, unknown>;
        };
        const message: WireMessage | undefined = body.message
          ? { ...body.message, messageId: body.message.messageId ?? randomUUID(), role: 'ROLE_USER' }
          : undefined;
        const task = await tasks.create({
          org,
          agent,
          ownerId: user.sub,
          ...(body.contextId ? { contextId: body.contextId } : {}),
          ...(message ? { message } : {}),
          ...(body.metadata ? { metadata: body.metadata } : {}),
        });
        options.onCreated?.(task);
        return h
          .response(toWireTask(task))
          .code(201)
          .header('Location', routes.task(org, agent, task._id));
      },
    });

    server.route({
      method: 'GET',
      path: ROUTE_PATTERNS.tasks,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: "List the user's tasks, newest first",
        tags: ['api', 'tasks'],
        validate: {
          params: agentParams,
          query: Joi.object({
            contextId: Joi.string().max(200),
            pageSize: Joi.number().integer().min(1).max(100).default(50),
            pageToken: Joi.string().pattern(/^\d{1,9}$/),
          }),
        },
      },
      async handler(request) {
        const { org, agent } = request.params as { org: string; agent: string };
        const query = request.query as { contextId?: string; pageSize: number; pageToken?: string };
        const user = request.auth.credentials as unknown as UserCredentials;
        const offset = query.pageToken ? Number(query.pageToken) : 0;
        const { tasks: docs, total } = await tasks.list({
          ownerId: user.sub,
          org,
          agent,
          limit: query.pageSize,
          offset,
          ...(query.contextId ? { contextId: query.contextId } : {}),
        });
        const next = offset + docs.length;
        return {
          tasks: docs.map((d) => toWireTask(d, { historyLength: 0 })),
          totalSize: total,
          nextPageToken: next < total ? String(next) : '',
        };
      },
    });

    server.route({
      method: 'GET',
      path: ROUTE_PATTERNS.task,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: 'The task snapshot',
        tags: ['api', 'tasks'],
        validate: { params: taskParams, query: Joi.object({ historyLength: Joi.number().integer().min(0) }) },
      },
      async handler(request) {
        const { historyLength } = request.query as { historyLength?: number };
        return toWireTask(await ownedTask(request), historyLength === undefined ? {} : { historyLength });
      },
    });

    server.route({
      method: 'POST',
      path: ROUTE_PATTERNS.cancel,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: 'Cancel the task; its streams get a final canceled status',
        tags: ['api', 'tasks'],
        validate: { params: taskParams },
      },
      async handler(request) {
        const task = await ownedTask(request);
        if (task.final) throw taskFinal();
        await log.append(task._id, [
          {
            statusUpdate: {
              taskId: task._id,
              contextId: task.contextId,
              status: {
                state: 'TASK_STATE_CANCELED',
                timestamp: new Date().toISOString(),
                message: {
                  messageId: randomUUID(),
                  role: 'ROLE_AGENT',
                  parts: [{ text: 'Canceled by the user' }],
                },
              },
            },
          },
        ]);
        options.onCanceled?.(task._id);
        return toWireTask((await tasks.get(task._id)) ?? task);
      },
    });

    server.route({
      method: 'POST',
      path: ROUTE_PATTERNS.streamToken,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: 'Mint a short-lived stream token bound to this user and task',
        tags: ['api', 'stream'],
        cache: { otherwise: 'no-store' },
        validate: { params: taskParams },
        plugins: {
          'hapi-rate-limit': {
            enabled: true,
            userLimit: config.streamTokenRateLimit.perUser,
            userCache: { expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
            userPathLimit: config.streamTokenRateLimit.perTask,
            userPathCache: { expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
          },
        },
      },
      async handler(request): Promise<StreamTokenResponse> {
        const task = await ownedTask(request);
        const user = request.auth.credentials as unknown as UserCredentials;
        const { token, expiresAt } = mintStreamToken(
          {
            secret: config.streamTokenSecret,
            audience: config.streamTokenAudience,
            ttlSeconds: config.streamTokenTtlSeconds,
            clockSkewSeconds: config.clockSkewSeconds,
          },
          user.sub,
          task._id,
        );
        metrics.streamTokensIssued.inc();
        return {
          token,
          expiresAt: expiresAt.toISOString(),
          streamUrl: routes.stream(task.org, task.agent, task._id),
        };
      },
    });

    server.route({
      method: 'GET',
      path: ROUTE_PATTERNS.messages,
      options: {
        auth: { strategies: [STRATEGY.user] },
        description: 'Polling fallback: retained events after a seq',
        tags: ['api', 'tasks'],
        validate: {
          params: taskParams,
          query: Joi.object({
            after: Joi.number().integer().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
            limit: Joi.number().integer().min(1).max(1000).default(100),
          }),
        },
      },
      async handler(request): Promise<MessagesPage> {
        const task = await ownedTask(request);
        const { after, limit } = request.query as { after: number; limit: number };
        const lastSeq = await log.lastSeq(task._id);
        const page = await log.readAfter(task._id, after, limit, lastSeq);
        const reachedEnd = page.events.length === 0 || page.events[page.events.length - 1]!.seq >= lastSeq;
        return {
          taskId: task._id,
          events: page.events.map(({ seq, event, createdAt }) => ({ seq, event, createdAt })),
          lastSeq,
          final: task.final && reachedEnd,
          historyTruncated: page.historyTruncated,
          ...(page.earliestSeq !== undefined ? { earliestSeq: page.earliestSeq } : {}),
        };
      },
    });

    server.route({
      method: 'POST',
      path: `${ROUTE_PATTERNS.task}/orchestration`,
      options: {
        auth: { strategies: [STRATEGY.agent] },
        description: "Agent: record orchestration steps and/or the latest checkpoint of the task's plan",
        tags: ['api', 'agents'],
        validate: {
          params: taskParams,
          payload: Joi.object({
            steps: Joi.array()
              .items(
                Joi.object({
                  name: Joi.string().min(1).max(200).required(),
                  status: Joi.string().valid('started', 'completed', 'failed', 'skipped').required(),
                  detail: Joi.object().unknown(true),
                }),
              )
              .max(100),
            checkpoint: Joi.object().unknown(true),
          })
            .or('steps', 'checkpoint')
            .label('OrchestrationRequest'),
        },
      },
      async handler(request) {
        const task = await agentTask(request);
        const taskId = task._id;
        const body = request.payload as { steps?: StepInput[]; checkpoint?: Record<string, unknown> };
        const stepIndexes = body.steps?.length
          ? await options.orchestration.recordSteps(taskId, body.steps)
          : [];
        if (body.checkpoint) await options.orchestration.saveCheckpoint(taskId, body.checkpoint);
        return { stepIndexes, orchestration: await options.orchestration.summary(taskId) };
      },
    });

    server.route({
      method: 'POST',
      path: ROUTE_PATTERNS.events,
      options: {
        auth: { strategies: [STRATEGY.agent] },
        description: 'Agent append: one StreamResponse or { events: [...] }',
        tags: ['api', 'agents'],
        payload: { maxBytes: config.maxAppendBytes, allow: 'application/json' },
        validate: { params: taskParams, payload: appendPayloadSchema },
      },
      async handler(request): Promise<AppendResponse> {
        const payload = request.payload as WireStreamResponse | { events: WireStreamResponse[] };
        const events = 'events' in payload ? payload.events : [payload];
        if (events.length > config.maxAppendBatch)
          throw domainError(
            ErrorCode.PayloadTooLarge,
            413,
            `At most ${config.maxAppendBatch} events per request`,
          );
        for (const event of events) {
          if (Buffer.byteLength(JSON.stringify(event)) > config.maxEventBytes)
            throw domainError(
              ErrorCode.PayloadTooLarge,
              413,
              `An event may be at most ${config.maxEventBytes} bytes`,
            );
        }
        const { org, agent, taskId } = agentParamsOf(request);
        // The log checks the task's org/agent from its cache: no task read per append.
        const stored = await log.append(taskId, events, { org, agent });
        return { seqs: stored.map((e) => e.seq) };
      },
    });
  },
};
