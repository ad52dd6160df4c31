import A2AConnectionStatus from './connection-status.component.js';
import { define } from '../../internal/define.js';

export * from './connection-status.component.js';
export default A2AConnectionStatus;

define('a2a-connection-status', A2AConnectionStatus);

declare global {
  interface HTMLElementTagNameMap {
    'a2a-connection-status': A2AConnectionStatus;
  }
}
