/** The tagger function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/events/tagger-function.ts`. */
import { taggerFunction } from '../../shared/events/tagger-function.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('tagger', taggerFunction);
