package main

// etcd 3.6's server flags that cairn has no setting for. An etcd unit
// file, manifest or config file that sets them starts cairn all the same:
// each is accepted with a one-line warning saying what cairn does
// instead. A few would change what the member is or how far it trusts its
// peers; those are refused with a line saying what to do, never silently
// dropped.

// etcdFlag is one of etcd's flags cairn does not implement.
type etcdFlag struct {
	// bool flags may be given without a value (--pre-vote).
	bool bool
	// instead says what cairn does instead (the warning).
	instead string
	// refuse makes the flag an error when it is set to anything but its
	// empty or false value: ignoring it would make the member join the
	// wrong cluster or trust more than asked.
	refuse bool
}

var etcdOnlyFlags = map[string]etcdFlag{
	"wal-dir":                                           {instead: "cairn keeps its write-ahead log in --data-dir (member/wal)"},
	"max-snapshots":                                     {instead: "cairn keeps no snapshot files: its store is the snapshot"},
	"max-wals":                                          {instead: "cairn removes the log segments a snapshot covers"},
	"listen-client-http-urls":                           {instead: "cairn serves HTTP on --listen-client-urls beside gRPC"},
	"memory-mlock":                                      {bool: true, instead: "cairn does not lock its memory"},
	"experimental-memory-mlock":                         {bool: true, instead: "cairn does not lock its memory"},
	"backend-bbolt-freelist-type":                       {instead: "cairn's store keeps its own free list"},
	"max-concurrent-streams":                            {instead: "cairn's etcd face allows any number of streams per connection"},
	"grpc-keepalive-min-time":                           {instead: "cairn's etcd face uses etcd's default (5s)"},
	"grpc-keepalive-interval":                           {instead: "cairn's etcd face uses etcd's default (2h)"},
	"grpc-keepalive-timeout":                            {instead: "cairn's etcd face uses etcd's default (20s)"},
	"socket-reuse-port":                                 {bool: true, instead: "cairn does not set SO_REUSEPORT"},
	"socket-reuse-address":                              {bool: true, instead: "cairn does not set SO_REUSEADDR"},
	"enable-grpc-gateway":                               {bool: true, instead: "cairn always serves the JSON gateway on the client port"},
	"raft-read-timeout":                                 {instead: "cairn's peer connections close after 20s without a frame"},
	"raft-write-timeout":                                {instead: "cairn's peer connections close after 20s without a frame"},
	"discovery":                                         {refuse: true, instead: "cairn has no discovery service: list the members in --initial-cluster"},
	"discovery-token":                                   {instead: "cairn has no discovery service"},
	"discovery-endpoints":                               {refuse: true, instead: "cairn has no discovery service: list the members in --initial-cluster"},
	"discovery-dial-timeout":                            {instead: "cairn has no discovery service"},
	"discovery-request-timeout":                         {instead: "cairn has no discovery service"},
	"discovery-keepalive-time":                          {instead: "cairn has no discovery service"},
	"discovery-keepalive-timeout":                       {instead: "cairn has no discovery service"},
	"discovery-insecure-transport":                      {bool: true, instead: "cairn has no discovery service"},
	"discovery-insecure-skip-tls-verify":                {bool: true, instead: "cairn has no discovery service"},
	"discovery-cert":                                    {instead: "cairn has no discovery service"},
	"discovery-key":                                     {instead: "cairn has no discovery service"},
	"discovery-cacert":                                  {instead: "cairn has no discovery service"},
	"discovery-user":                                    {instead: "cairn has no discovery service"},
	"discovery-password":                                {instead: "cairn has no discovery service"},
	"discovery-fallback":                                {instead: "cairn has no discovery service"},
	"discovery-proxy":                                   {instead: "cairn has no discovery service"},
	"discovery-srv":                                     {refuse: true, instead: "cairn has no DNS discovery: list the members in --initial-cluster"},
	"discovery-srv-name":                                {instead: "cairn has no DNS discovery"},
	"strict-reconfig-check":                             {bool: true, instead: "cairn always makes etcd's strict reconfiguration check on started members"},
	"pre-vote":                                          {bool: true, instead: "cairn's raft always runs a pre-vote before an election"},
	"v2-deprecation":                                    {instead: "cairn serves no v2 API"},
	"client-cert-file":                                  {instead: "cairn's members present --cert-file to the peers they call"},
	"client-key-file":                                   {instead: "cairn's members present --key-file to the peers they call"},
	"peer-client-cert-file":                             {instead: "cairn's members present --peer-cert-file to the peers they call"},
	"peer-client-key-file":                              {instead: "cairn's members present --peer-key-file to the peers they call"},
	"client-crl-file":                                   {refuse: true, instead: "cairn checks no certificate revocation lists: remove the flag, and stop trusting a revoked certificate's CA"},
	"peer-crl-file":                                     {refuse: true, instead: "cairn checks no certificate revocation lists: remove the flag, and stop trusting a revoked certificate's CA"},
	"client-cert-allowed-hostname":                      {refuse: true, instead: "cairn cannot restrict clients by certificate host name: remove the flag and use a CA of its own for clients"},
	"experimental-peer-skip-client-san-verification":    {bool: true, instead: "cairn verifies peer certificates as Go's TLS does"},
	"peer-skip-client-san-verification":                 {bool: true, instead: "cairn verifies peer certificates as Go's TLS does"},
	"self-signed-cert-validity":                         {instead: "cairn's auto-TLS certificates have a validity of their own and are renewed when near expiry"},
	"cipher-suites":                                     {instead: "cairn uses Go's default cipher suites"},
	"tls-min-version":                                   {instead: "cairn accepts TLS 1.2 and later"},
	"tls-max-version":                                   {instead: "cairn accepts TLS 1.2 and later"},
	"cors":                                              {instead: "cairn's HTTP endpoints send no CORS headers"},
	"host-whitelist":                                    {instead: "cairn's HTTP endpoints accept any Host header"},
	"metrics":                                           {instead: "cairn always exports its full set of metrics, grpc_server_handling_seconds included"},
	"enable-log-rotation":                               {bool: true, instead: "cairn does not rotate its log file: use logrotate with copytruncate"},
	"log-rotation-config-json":                          {instead: "cairn does not rotate its log file: use logrotate with copytruncate"},
	"experimental-enable-distributed-tracing":           {bool: true, instead: "cairn exports no traces"},
	"enable-distributed-tracing":                        {bool: true, instead: "cairn exports no traces"},
	"experimental-distributed-tracing-address":          {instead: "cairn exports no traces"},
	"distributed-tracing-address":                       {instead: "cairn exports no traces"},
	"experimental-distributed-tracing-service-name":     {instead: "cairn exports no traces"},
	"distributed-tracing-service-name":                  {instead: "cairn exports no traces"},
	"experimental-distributed-tracing-instance-id":      {instead: "cairn exports no traces"},
	"distributed-tracing-instance-id":                   {instead: "cairn exports no traces"},
	"experimental-distributed-tracing-sampling-rate":    {instead: "cairn exports no traces"},
	"distributed-tracing-sampling-rate":                 {instead: "cairn exports no traces"},
	"experimental-compact-hash-check-enabled":           {bool: true, instead: "cairn compares the members' hashes every --corrupt-check-time"},
	"experimental-compact-hash-check-time":              {instead: "cairn compares the members' hashes every --corrupt-check-time"},
	"compact-hash-check-time":                           {instead: "cairn compares the members' hashes every --corrupt-check-time"},
	"experimental-enable-lease-checkpoint":              {bool: true, instead: "a new leader gives every lease its full TTL again"},
	"experimental-enable-lease-checkpoint-persist":      {bool: true, instead: "a new leader gives every lease its full TTL again"},
	"experimental-compaction-batch-limit":               {instead: "cairn compacts in batches of its own size"},
	"compaction-batch-limit":                            {instead: "cairn compacts in batches of its own size"},
	"experimental-compaction-sleep-interval":            {instead: "cairn compacts in batches, each under the store's lock, without a pause"},
	"compaction-sleep-interval":                         {instead: "cairn compacts in batches, each under the store's lock, without a pause"},
	"experimental-txn-mode-write-with-shared-buffer":    {bool: true, instead: "cairn's store has its own write path"},
	"experimental-bootstrap-defrag-threshold-megabytes": {instead: "cairn does not defragment at start: use ctl defrag"},
	"bootstrap-defrag-threshold-megabytes":              {instead: "cairn does not defragment at start: use ctl defrag"},
	"max-learners":                                      {instead: "cairn allows one learner at a time"},
	"experimental-snapshot-catchup-entries":             {instead: "cairn keeps the entries of its own snapshot margin"},
	"snapshot-catchup-entries":                          {instead: "cairn keeps the entries of its own snapshot margin"},
	"experimental-downgrade-check-time":                 {instead: "cairn has no downgrade"},
	"downgrade-check-time":                              {instead: "cairn has no downgrade"},
	"experimental-stop-grpc-service-on-defrag":          {bool: true, instead: "cairn serves during a defragmentation"},
	"force-new-cluster":                                 {bool: true, refuse: true, instead: "cairn cannot force a new cluster from a member's data: restore a snapshot with ctl snapshot restore"},
	"unsafe-no-fsync":                                   {bool: true, instead: "cairn always fsyncs"},
}

// etcdAliases are etcd's other names for flags cairn has: the
// experimental- names etcd 3.6 still takes.
var etcdAliases = map[string]string{
	"experimental-initial-corrupt-check":          "initial-corrupt-check",
	"experimental-corrupt-check-time":             "corrupt-check-time",
	"experimental-watch-progress-notify-interval": "watch-progress-notify-interval",
	"experimental-warning-apply-duration":         "warning-apply-duration",
	"experimental-warning-unary-request-duration": "warning-unary-request-duration",
}
