import A2ATaskStream from './task-stream.component.js';
import { define } from '../../internal/define.js';

export * from './task-stream.component.js';
export default A2ATaskStream;

define('a2a-task-stream', A2ATaskStream);

declare global {
  interface HTMLElementTagNameMap {
    'a2a-task-stream': A2ATaskStream;
  }
}
