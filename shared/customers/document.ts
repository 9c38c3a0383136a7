// A customer as stored: the `profiles` collection's document. Read by every worker — the profile
// worker writes it, the scheduler reads its dates, the deletion worker erases it.
import type { Collection, Db } from 'mongodb';
import type { Profile } from './model.ts';
import type { StoredEntry } from '../outbox.ts';

export type ProfileDoc = Profile & {
  _id: string;
  /** Entries of the last write(s): those of open relay steps are still owed. */
  pending: StoredEntry[];
  /** Set on a temporary profile while it is being merged into this permanent one. */
  mergingInto?: string;
};

/** The profile without the storage fields. */
export function toProfile(doc: ProfileDoc): Profile {
  const { _id, pending: _pending, mergingInto: _mergingInto, ...profile } = doc;
  return profile;
}

/** What the scheduler reads of a profile: ids and dates, no personal data. */
export type ExpiryView = Pick<ProfileDoc, '_id' | 'organisationId' | 'profileType' | 'status' | 'expirationDate' | 'mergingInto'>;

/** The profiles collection, read-only and projected to what the scheduler needs. */
export function expiryViews(db: Db): { collection: Collection<ExpiryView>; projection: Record<keyof Omit<ExpiryView, '_id'>, 1> } {
  return {
    collection: db.collection<ExpiryView>('profiles'),
    projection: { organisationId: 1, profileType: 1, status: 1, expirationDate: 1, mergingInto: 1 },
  };
}
