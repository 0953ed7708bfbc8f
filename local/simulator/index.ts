/**
 * The parking-lot simulator: a digital twin of one lot producing `parking-entry`, `parking-exit` and
 * `parking-sensors` events (camera images included, a configurable share of bad records) into Kafka.
 */
export {
  simulate,
  SimulationError,
  DEFAULT_TOPICS,
  isBrokerAddress,
  type SimulateOptions,
  type TopicNames,
} from './producer.ts';
export {
  acknowledgedCoordinates,
  type KafkaCoordinate,
  type OffsetRange,
  type PartitionOffsets,
  type SimulationReport,
  type StopReason,
  type TopicReport,
} from './report.ts';
export {
  BAD_KINDS,
  CONTENT_TYPE,
  createEventSource,
  eventId,
  generateEvents,
  REQUIRED_FIELDS,
  TOPIC_ROLES,
  type BadKind,
  type EventSource,
  type EventSourceOptions,
  type ParkingEvent,
  type SensorEvent,
  type SimRecord,
  type TopicRole,
} from './events.ts';
export { IMAGE_CONTENT_TYPE, IMAGE_HEIGHT, IMAGE_WIDTH } from './images.ts';
export { isInsideLot, LOT, slotIds } from './lot.ts';
