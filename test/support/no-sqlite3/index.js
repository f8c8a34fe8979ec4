// Stand-in for sqlite3 (see package.json): nothing in our suite may load it.
throw new Error("sqlite3 is replaced by a stand-in in shmcached's dev dependencies (package.json overrides)");
