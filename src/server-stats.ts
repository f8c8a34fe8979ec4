/**
 * What a server tells its connections' protocol engine about itself, for memcached's `stats`
 * and `stats settings` (native/proto/serverinfo.h). The store knows its own settings (maxbytes,
 * item_size_max, evictions, ...); the keys below belong to the server that serves it. To report a
 * new server setting: add a field to {@link EngineSettings} and its line(s) in {@link engineStats}.
 */

/** A server's facts, under memcached's meanings (the names it reports are in {@link engineStats}). */
export interface EngineSettings {
  /** Most simultaneous connections (`maxconns`, `max_connections`; memcached's `-c`). */
  maxconns: number;
  /** TCP port listened on (`tcpport`); 0 when not listening on TCP. */
  tcpport: number;
  /** Address listened on (`inter`); null when none or every address. */
  inter: string | null;
  /** Unix socket path listened on (`domain_socket`); null when none. */
  domainSocket: string | null;
  /** Log level (`verbosity`; `-v` count). */
  verbosity: number;
  /** Seconds before an idle connection is closed (`idle_timeout`); 0 = never. */
  idleTimeout: number;
  /** Server processes sharing the store and the port (`threads`, `num_threads`; `serve -t`). */
  numThreads: number;
  /** listen(2) backlog (`tcp_backlog`). */
  tcpBacklog: number;
  /** Whether the server is accepting connections now (`accepting_conns`). */
  accepting: boolean;
  /** `flush_all` is allowed (`flush_enabled`; memcached's `-F` turns it off). */
  flushEnabled: boolean;
  /** Commands per connection per turn (`reqs_per_event`; `-R`), 0 = no limit. */
  reqsPerEvent: number;
  /** The `shutdown` command is allowed (`shutdown_command`; `-A`). */
  shutdownEnabled: boolean;
  /** Protocols accepted (`binding_protocol`; `-B`): memcached's names. */
  bindingProtocol: 'ascii' | 'binary' | 'auto-negotiate';
  /** The background expired-item crawler was started on (`lru_crawler`). */
  lruCrawler: boolean;
}

/** Defaults of a server made by createServer (memcached's where they mean the same). */
export const defaultEngineSettings: EngineSettings = {
  maxconns: 1024,
  tcpport: 0,
  inter: null,
  domainSocket: null,
  verbosity: 0,
  idleTimeout: 0,
  numThreads: 1,
  tcpBacklog: 511, // Node's default listen backlog
  accepting: false,
  flushEnabled: true,
  reqsPerEvent: 0,
  shutdownEnabled: false,
  bindingProtocol: 'auto-negotiate',
  lruCrawler: false,
};

/** The engine's input: flat [key, value, ...] lists for `stats` and `stats settings`. */
export function engineStats(s: EngineSettings): { general: string[]; settings: string[] } {
  const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
  return {
    general: [
      'libevent',
      `libuv ${process.versions.uv}`,
      'max_connections',
      String(s.maxconns),
      'accepting_conns',
      s.accepting ? '1' : '0',
      'threads',
      String(s.numThreads),
    ],
    settings: [
      'maxconns',
      String(s.maxconns),
      'tcpport',
      String(s.tcpport),
      'inter',
      s.inter ?? 'NULL',
      'verbosity',
      String(s.verbosity),
      'domain_socket',
      s.domainSocket ?? 'NULL',
      'num_threads',
      String(s.numThreads),
      'num_threads_per_udp',
      String(s.numThreads),
      'tcp_backlog',
      String(s.tcpBacklog),
      'flush_enabled',
      yesNo(s.flushEnabled),
      'idle_timeout',
      String(s.idleTimeout),
      'reqs_per_event',
      String(s.reqsPerEvent),
      'shutdown_command',
      yesNo(s.shutdownEnabled),
      'binding_protocol',
      s.bindingProtocol,
      'lru_crawler',
      yesNo(s.lruCrawler),
    ],
  };
}
