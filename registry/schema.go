package registry

import "encoding/binary"

// Every bbolt bucket the state database uses.
var (
	bucketMeta     = []byte("meta")      // fixed keys below -> uint64
	bucketModules  = []byte("modules")   // digest -> Module (proto)
	bucketBlobs    = []byte("blobs")     // digest -> Wasm bytes
	bucketRoutes   = []byte("routes")    // routeKey -> Route (proto)
	bucketEvents   = []byte("events")    // revision (uint64 BE) + seq (uint16 BE) -> Event (proto)
	bucketKeys     = []byte("keys")      // key id -> PublisherKey (proto)
	bucketTokens   = []byte("tokens")    // token id -> Token (proto)
	bucketAudit    = []byte("audit")     // revision (uint64 BE) -> AuditEntry (proto)
	bucketNodes    = []byte("nodes")     // node id -> gRPC address
	bucketStaging  = []byte("staging")   // upload id + 0 + index (uint32 BE) -> chunk of a large module
	bucketRollout  = []byte("rollouts")  // routeKey -> Rollout (proto)
	bucketFlags    = []byte("flags")     // flag name -> Flag (proto)
	bucketConfigs  = []byte("configs")   // module name -> Config (proto, secrets sealed)
	bucketKVStores = []byte("kv_stores") // store name -> KVStore (proto)
	bucketKV       = []byte("kv")        // store name -> bucket of key -> value
	// Writes applied by request id, to apply a retried write once.
	bucketRequests     = []byte("requests")      // actor + 0 + request id -> revision (uint64 BE) + time (uint64 BE, unix ns)
	bucketRequestTimes = []byte("request_times") // time (uint64 BE, unix ns) + actor + 0 + request id -> nothing

	allBuckets = [][]byte{bucketMeta, bucketModules, bucketBlobs, bucketRoutes, bucketEvents, bucketKeys, bucketTokens, bucketAudit, bucketNodes,
		bucketStaging, bucketRollout, bucketFlags, bucketRequests, bucketRequestTimes, bucketConfigs,
		bucketKVStores, bucketKV}
)

// Keys of bucketMeta. appliedIndex is written in the same transaction as the
// data it covers, so a restarted node knows exactly which log entries it has.
var (
	keyAppliedIndex    = []byte("applied_index")
	keyRevision        = []byte("revision")
	keyCompactRevision = []byte("compact_revision")
	keyEventCount      = []byte("event_count")
	keyEventBytes      = []byte("event_bytes")
	keyRequestCount    = []byte("request_count")
)

func routeKey(host, pathPrefix string) []byte {
	k := make([]byte, 0, len(host)+1+len(pathPrefix))
	k = append(k, host...)
	k = append(k, 0)
	return append(k, pathPrefix...)
}

func eventKey(rev int64, seq uint16) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 10), uint64(rev))
	return binary.BigEndian.AppendUint16(k, seq)
}

func eventKeyRevision(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func u64bytes(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func stagingKey(uploadID string, index uint32) []byte {
	k := append([]byte(uploadID), 0)
	return binary.BigEndian.AppendUint32(k, index)
}
