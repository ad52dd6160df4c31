import A2ATaskList from './task-list.component.js';
import { define } from '../../internal/define.js';

export * from './task-list.component.js';
export default A2ATaskList;

define('a2a-task-list', A2ATaskList);

declare global {
  interface HTMLElementTagNameMap {
    'a2a-task-list': A2ATaskList;
  }
}
