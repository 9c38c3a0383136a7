// `profiles republish`: rebuilds an organisation's event topic from MongoDB (scripts/republish.ts).
// Progress on stderr, a JSON summary on stdout.
import { makeAvroCodec, readSchemaFile } from '../../shared/avro.ts';
import { makeProducer } from '../../shared/kafka.ts';
import { connectMongo } from '../../shared/mongo/connect.ts';
import { republish } from '../republish.ts';
import { openSession } from './session.ts';

export async function runRepublish(organisationId: number): Promise<void> {
  const { config, kafka } = openSession('republish');
  const admin = kafka.admin();
  const producer = makeProducer(kafka);
  const mongo = await connectMongo(config.mongoUri, { appName: 'profiles-cli' });
  try {
    await Promise.all([admin.connect(), producer.connect()]);
    const codec = makeAvroCodec(config.registryUrl);
    const schema = await codec.register(await readSchemaFile(new URL('../../schemas/CustomerChanged.avsc', import.meta.url)));
    const progress = ({ live, erased }: { live: number; erased: number }) => console.error(`republished ${live} live and ${erased} erased customers`);
    const summary = await republish({ db: mongo.db, admin, producer, codec, schema, config, progress }, organisationId);
    console.log(JSON.stringify(summary, null, 2));
  } finally {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
    await mongo.close();
  }
}
