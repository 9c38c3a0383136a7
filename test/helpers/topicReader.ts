// The topic reader lives in shared/ (the verifier reads the event topics too); tests import it from here.
export { headersOf, readToEnd, type Consumed } from '../../shared/topicReader.ts';
