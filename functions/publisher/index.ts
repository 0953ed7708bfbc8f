/** The publisher function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/wap/publisher-function.ts`. */
import { publisherFunction } from '../../shared/wap/publisher-function.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('publisher', publisherFunction);
