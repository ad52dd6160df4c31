/** Caps concurrent streams per user. */
export interface StreamLimiter {
  acquire(userId: string): Promise<boolean>;
  release(userId: string): Promise<void>;
}
