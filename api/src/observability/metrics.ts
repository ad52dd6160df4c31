import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRICS } from '@orchestrator-ai/transport-types';

/**
 * Event-loop delay is sampled by a repeating libuv timer. prom-client's default, every 10 ms,
 * wakes an idle instance 100 times a second, and each wake-up costs CPU of its own (≈ 70 µs on
 * the benchmark VM: 7 ms a second, a quarter of what an idle instance with 2,000 open streams
 * spent). Every 100 ms still gives 150 samples per 15 s scrape for the lag percentiles.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** This instance's metrics, on a registry of its own (tests run several servers in one process). */
export class Metrics {
  readonly registry = new Registry();
  readonly activeStreams = new Gauge({
    name: METRICS.activeStreams,
    help: 'Open SSE streams on this instance',
    registers: [this.registry],
  });
  readonly eventsSent = new Counter({
    name: METRICS.eventsSent,
    help: 'Events written to SSE streams (snapshots excluded)',
    registers: [this.registry],
  });
  readonly deliverySeconds = new Histogram({
    name: METRICS.deliverySeconds,
    help: 'Seconds from an append acknowledged to its event written to a stream',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly streamsOpened = new Counter({
    name: 'a2a_sse_streams_opened_total',
    help: 'SSE streams opened',
    registers: [this.registry],
  });
  readonly slowReadersDropped = new Counter({
    name: 'a2a_sse_slow_readers_dropped_total',
    help: 'Streams closed because the reader fell too far behind',
    registers: [this.registry],
  });
  readonly tokenExpiryCloses = new Counter({
    name: 'a2a_sse_token_expiry_closes_total',
    help: 'Streams closed ahead of their token expiry',
    registers: [this.registry],
  });
  readonly eventsAppended = new Counter({
    name: METRICS.eventsAppended,
    help: 'Events stored by appends on this instance',
    registers: [this.registry],
  });
  /** Events ÷ batches says how many appends one insert carried: concurrent appends to a task share one. */
  readonly appendBatches = new Counter({
    name: METRICS.appendBatches,
    help: 'Batches of appended events stored together, one insert command each (seq-race retries aside)',
    registers: [this.registry],
  });
  readonly seqConflicts = new Counter({
    name: 'a2a_seq_conflicts_total',
    help: 'Appends retried because another writer took the seq',
    registers: [this.registry],
  });
  readonly gapsSkipped = new Counter({
    name: 'a2a_seq_gaps_skipped_total',
    help: 'Seqs a stream skipped after waiting for them in vain (an appender died mid-write)',
    registers: [this.registry],
  });
  readonly crossInstanceEvents = new Counter({
    name: 'a2a_cross_instance_events_total',
    help: 'Events picked up from the database for local streams (change stream or tailing query)',
    registers: [this.registry],
  });
  readonly peerNudges = new Counter({
    name: 'a2a_peer_nudges_total',
    help:
      'UDP datagrams between tailing instances: nudges sent and received, beacons sent, rejected ' +
      '(not a nudge, or not signed with this instance’s stream token secret), and missed (a peer’s ' +
      'datagram found lost, or a peer heard for the first time: every watched task is read)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly deliveryPeers = new Gauge({
    name: 'a2a_delivery_peers',
    help: 'Other live instances this one nudges after its appends',
    registers: [this.registry],
  });
  readonly prunedMessages = new Counter({
    name: 'a2a_pruned_messages_total',
    help: 'Expired task messages deleted by the prune job',
    registers: [this.registry],
  });
  readonly prunedOrchestration = new Counter({
    name: 'a2a_pruned_orchestration_records_total',
    help: 'Orchestration steps and checkpoints removed after TASK_RETENTION_DAYS',
    registers: [this.registry],
  });
  readonly streamTokensIssued = new Counter({
    name: 'a2a_stream_tokens_issued_total',
    help: 'Stream tokens minted',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
}
