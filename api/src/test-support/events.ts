import type { WireStreamResponse } from '@orchestrator-ai/transport-types';

/** A text chunk appended to artifact `a`, as an agent hands it to the EventLog (ids filled in there). */
export const chunk = (text: string): WireStreamResponse => ({
  artifactUpdate: {
    taskId: '',
    contextId: '',
    artifact: { artifactId: 'a', parts: [{ text }] },
    append: true,
  },
});
