/** The step protocol: nesting is refused with a typed error; annotations live for one step only. */
import * as tf from '@tensorflow/tfjs-core';

import {TracingError} from '../../src/errors';
import {annotate, annotationOf, capabilitiesOf, inLocalStep, isLocalLearner, runLocalStep} from '../../src/step/local_step';
import {describeBackends} from '../util';

describeBackends('local step protocol', () => {
  it('a step inside a step is a TracingError, and the outer step still ends cleanly', () => {
    expect(() => runLocalStep(null, () => runLocalStep(null, () => 0))).toThrowError(TracingError, /do not nest/);
    expect(inLocalStep()).toBe(false);
  });

  it('annotations are typed, kept until the step ends and gone after it', () => {
    const before = tf.memory().numTensors;
    const x = tf.scalar(1);
    runLocalStep(null, () => {
      tf.tidy(() => {
        const local = tf.ones([1, 1, 1, 1]);
        annotate(x, {localTangents: local}, [local]);
      });
      expect(annotationOf(x)?.localTangents?.isDisposed).toBe(false);  // kept past the tidy
    });
    expect(annotationOf(x)).toBeNull();
    annotate(x, {localTangents: x});  // outside a step: a no-op
    expect(annotationOf(x)).toBeNull();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('capabilitiesOf reads the optional layer capabilities; isLocalLearner needs both methods', () => {
    expect(capabilitiesOf({stopsDerivatives: true}).stopsDerivatives).toBe(true);
    expect(capabilitiesOf({}).viewsPerExample).toBeUndefined();
    expect(isLocalLearner({activitySiteWeights: () => []})).toBe(false);
    expect(isLocalLearner({activitySiteWeights: () => [], weightLayout: () => null})).toBe(true);
  });
});
