/**
 * The Trigger filter evaluator (local/knative/filters.ts) against Knative's broker semantics.
 */
import { describe, expect, it } from 'vitest';
import { CloudEvent } from 'cloudevents';
import {
  evaluateFilter,
  matchesFilters,
  UnsupportedFilterError,
  type FilterExpression,
} from '../../local/knative/filters.ts';

const kafkaEvent = {
  specversion: '1.0',
  id: 'partition:3/offset:1042',
  source: '/apis/v1/namespaces/floe/kafkasources/parking#parking-entry',
  type: 'dev.knative.kafka.event',
  partitionkey: 'car-17',
  knativekafkapartition: 3,
};

describe('single dialects', () => {
  it('exact compares the whole value and fails when the attribute is absent', () => {
    expect(evaluateFilter({ exact: { type: 'dev.knative.kafka.event' } }, kafkaEvent)).toBe('pass');
    expect(evaluateFilter({ exact: { type: 'dev.knative.kafka' } }, kafkaEvent)).toBe('fail');
    expect(evaluateFilter({ exact: { floejob: 'compact' } }, kafkaEvent)).toBe('fail');
  });

  it('prefix and suffix match the start and end of the value', () => {
    expect(evaluateFilter({ prefix: { source: '/apis/v1/namespaces/' } }, kafkaEvent)).toBe('pass');
    expect(evaluateFilter({ suffix: { source: '#parking-entry' } }, kafkaEvent)).toBe('pass');
    expect(evaluateFilter({ suffix: { source: '#parking-exit' } }, kafkaEvent)).toBe('fail');
    expect(evaluateFilter({ prefix: { subject: 'x' } }, kafkaEvent)).toBe('fail');
  });

  it('compares non-string attribute values by their string form', () => {
    expect(evaluateFilter({ exact: { knativekafkapartition: '3' } }, kafkaEvent)).toBe('pass');
  });

  it('skips (no filter) an expression with an empty value, as the broker does', () => {
    expect(evaluateFilter({ exact: { type: '' } }, kafkaEvent)).toBe('none');
    expect(matchesFilters([{ exact: { type: '' } }], kafkaEvent)).toBe(true);
  });
});

describe('composite dialects', () => {
  const topics: FilterExpression = {
    any: [{ suffix: { source: '#parking-entry' } }, { suffix: { source: '#parking-exit' } }],
  };

  it('any passes when one nested expression passes', () => {
    expect(evaluateFilter(topics, kafkaEvent)).toBe('pass');
    expect(evaluateFilter(topics, { ...kafkaEvent, source: '/x#parking-sensors' })).toBe('fail');
  });

  it('all passes only when every nested expression passes', () => {
    const both: FilterExpression = { all: [{ exact: { type: 'dev.knative.kafka.event' } }, topics] };
    expect(evaluateFilter(both, kafkaEvent)).toBe('pass');
    expect(evaluateFilter(both, { ...kafkaEvent, type: 'other' })).toBe('fail');
  });

  it('not inverts pass and fail and keeps "no filter"', () => {
    expect(evaluateFilter({ not: { exact: { type: 'dev.knative.kafka.event' } } }, kafkaEvent)).toBe('fail');
    expect(evaluateFilter({ not: { exact: { type: 'other' } } }, kafkaEvent)).toBe('pass');
    expect(evaluateFilter({ not: { exact: { type: '' } } }, kafkaEvent)).toBe('none');
  });

  it('a filters list is AND-ed, and an empty list delivers everything', () => {
    expect(matchesFilters([], kafkaEvent)).toBe(true);
    expect(matchesFilters([{ exact: { type: 'dev.knative.kafka.event' } }, topics], kafkaEvent)).toBe(true);
    expect(
      matchesFilters(
        [{ exact: { type: 'dev.knative.kafka.event' } }, { exact: { partitionkey: 'car-18' } }],
        kafkaEvent,
      ),
    ).toBe(false);
  });
});

describe('legacy filter.attributes', () => {
  it('matches exactly on every attribute; "" means present with any value', () => {
    expect(
      matchesFilters([{ attributes: { type: 'dev.knative.kafka.event', partitionkey: 'car-17' } }], kafkaEvent),
    ).toBe(true);
    expect(
      matchesFilters([{ attributes: { type: 'dev.knative.kafka.event', partitionkey: 'car-18' } }], kafkaEvent),
    ).toBe(false);
    expect(matchesFilters([{ attributes: { partitionkey: '' } }], kafkaEvent)).toBe(true);
    expect(matchesFilters([{ attributes: { floejob: '' } }], kafkaEvent)).toBe(false);
  });
});

describe('events and unsupported expressions', () => {
  it('evaluates a cloudevents CloudEvent object (extensions are top-level properties)', () => {
    const event = new CloudEvent({
      type: 'dev.knative.sources.ping',
      source: '/apis/v1/namespaces/floe/pingsources/compact',
      floejob: 'compact',
    });
    expect(
      matchesFilters([{ exact: { type: 'dev.knative.sources.ping' } }, { exact: { floejob: 'compact' } }], event),
    ).toBe(true);
    expect(matchesFilters([{ exact: { floejob: 'orphans' } }], event)).toBe(false);
  });

  it('refuses CESQL with a clear error', () => {
    expect(() => matchesFilters([{ cesql: "type = 'x'" }], kafkaEvent)).toThrow(UnsupportedFilterError);
    expect(() => matchesFilters([{ cesql: "type = 'x'" }], kafkaEvent)).toThrow(/CESQL filters are not supported/);
  });
});
