/**
 * The A2A 1.0 agent card of `/agent-to-agent/{org}/{agent}`: built as the SDK's `AgentCard` and
 * served through its ProtoJSON codec, so it has the 1.0 shape and nothing of 0.3 (no top-level
 * `url`, `protocolVersion` or `preferredTransport`).
 */
import { AgentCard, A2A_PROTOCOL_VERSION, type AgentSkill } from '@orchestrator-ai/transport-types';
import { BEHAVIOURS, BEHAVIOUR_HELP } from './demo-agent.js';

/** Our resume extension: `Last-Event-ID` on `SubscribeToTask` replays after that seq. */
export const RESUME_EXTENSION_URI = 'urn:orchestrator-ai:a2a:extension:resume:v1';

export const BEARER_SCHEME = 'bearer';

export interface CardInput {
  org: string;
  agent: string;
  /** Absolute URL of the JSON-RPC endpoint. */
  url: string;
  /** Absolute URL of the API documentation, when served. */
  documentationUrl?: string;
  /** The built-in demo agent answers here (its skills are listed). */
  demo: boolean;
}

const MODES = ['text/plain', 'application/json'];

export function buildAgentCard(input: CardInput): AgentCard {
  return AgentCard.fromJSON({
    name: input.demo ? 'Demo simulator' : `${input.org}/${input.agent}`,
    description: input.demo
      ? 'Built-in simulated agent: it works on its tasks step by step, streaming status updates and artifact chunks. Its behaviour can be chosen per message.'
      : `Tasks of the agent ${input.org}/${input.agent}. The agent works on them out of process and posts their events to the orchestrator, which stores and streams them.`,
    supportedInterfaces: [
      { url: input.url, protocolBinding: 'JSONRPC', protocolVersion: A2A_PROTOCOL_VERSION },
    ],
    provider: { organization: 'Orchestrator AI', url: new URL('/', input.url).toString() },
    version: '1.0.0',
    ...(input.documentationUrl ? { documentationUrl: input.documentationUrl } : {}),
    capabilities: {
      streaming: true,
      pushNotifications: false,
      extendedAgentCard: false,
      extensions: [
        {
          uri: RESUME_EXTENSION_URI,
          description:
            'Resume a task stream: send the last SSE event id you received (the task seq) as the Last-Event-ID header of SubscribeToTask, and the stream replays the retained events after it, following the Task snapshot. Every SSE frame carries `id: <seq>`.',
          required: false,
          params: { header: 'Last-Event-ID', methods: ['SubscribeToTask'] },
        },
      ],
    },
    securitySchemes: {
      [BEARER_SCHEME]: {
        httpAuthSecurityScheme: {
          scheme: 'Bearer',
          bearerFormat: 'JWT',
          description: 'A user token of the host application (in dev mode: POST /auth/dev/token).',
        },
      },
    },
    securityRequirements: [{ schemes: { [BEARER_SCHEME]: { list: [] } } }],
    defaultInputModes: MODES,
    defaultOutputModes: input.demo ? [...MODES, 'application/octet-stream'] : MODES,
    skills: input.demo ? demoSkills() : [relaySkill(input)],
  });
}

/**
 * The card as ProtoJSON. `required: false` of an extension is a default value the codec omits;
 * we write it out, since clients look for it.
 */
export function agentCardJson(card: AgentCard): Record<string, unknown> {
  const json = AgentCard.toJSON(card) as {
    capabilities?: { extensions?: Array<Record<string, unknown>> };
  } & Record<string, unknown>;
  for (const extension of json.capabilities?.extensions ?? []) extension.required ??= false;
  return json;
}

function demoSkills(): AgentSkill[] {
  return [
    skill({
      id: 'simulate',
      name: 'Simulated long task',
      description:
        'Works step by step: a status update with progress per step and a report artifact streamed in chunks, then completes. Shape it with metadata.simulate = { steps, intervalMs, chunkSize }.',
      tags: ['demo', 'streaming'],
      examples: ['stream', 'Write me a report'],
    }),
    skill({
      id: 'outcomes',
      name: 'Chosen outcome',
      description: `Drives the task to the outcome named by metadata.behavior or by the first word of the message text: ${BEHAVIOURS.map((b) => `${b} (${BEHAVIOUR_HELP[b]})`).join('; ')}.`,
      tags: ['demo', 'conformance'],
      examples: [...BEHAVIOURS],
    }),
  ];
}

function relaySkill(input: CardInput): AgentSkill {
  return skill({
    id: 'tasks',
    name: 'Tasks',
    description: `Send a message to start a task of ${input.org}/${input.agent}; follow it by streaming, polling or subscribing.`,
    tags: ['tasks'],
    examples: [],
  });
}

function skill(s: Pick<AgentSkill, 'id' | 'name' | 'description' | 'tags' | 'examples'>): AgentSkill {
  return { ...s, inputModes: MODES, outputModes: MODES, securityRequirements: [] };
}
