/** The piscina task of `npm run bench -- pool`'s baseline: does nothing, so only the round trip is timed. */
export default function emptyTask(): number {
  return 0;
}
