/**
 * One kafkajs consumer-group member that reports what happens to it: `join` events (member id, assignment) and
 * every delivered record. Used in-process, and as a child process (`node --import tsx group-member.ts BROKERS GROUP
 * TOPIC SESSION_MS`) that a test can SIGKILL to play a member that dies without leaving.
 */
import kafkajs from 'kafkajs';

export type MemberEvent =
  | { type: 'join'; memberId: string; assignment: Record<string, number[]> }
  | { type: 'record'; memberId: string; partition: number; offset: string; value: string };

export async function runMember(
  brokers: string,
  groupId: string,
  topic: string,
  sessionTimeout: number,
  report: (e: MemberEvent) => void,
) {
  const kafka = new kafkajs.Kafka({ clientId: 'member', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout,
    heartbeatInterval: Math.floor(sessionTimeout / 6),
    maxWaitTimeInMs: 200,
    rebalanceTimeout: 10_000,
  });
  let memberId = '';
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    memberId = e.payload.memberId;
    report({ type: 'join', memberId, assignment: e.payload.memberAssignment as Record<string, number[]> });
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) =>
      report({ type: 'record', memberId, partition, offset: message.offset, value: String(message.value) }),
  });
  return consumer;
}

if (process.argv[1]?.endsWith('group-member.ts')) {
  const [brokers, groupId, topic, session] = process.argv.slice(2);
  await runMember(brokers, groupId, topic, Number(session), (e) => process.stdout.write(`${JSON.stringify(e)}\n`));
}
