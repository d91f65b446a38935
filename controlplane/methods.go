package controlplane

const (
	registrySvc  = "/nanoedge.registry.v1.RegistryService/"
	accessSvc    = "/nanoedge.registry.v1.AccessService/"
	clusterSvc   = "/nanoedge.registry.v1.ClusterService/"
	telemetrySvc = "/nanoedge.registry.v1.TelemetryService/"
)

// placement says which node runs a call.
type placement int

const (
	// local: the node called, from its own state (ordered watches, fetches
	// by digest, membership as this node sees it).
	local placement = iota
	// leader: writes, and what lives in the leader's memory (telemetry).
	leader
	// linearizable: reads the leader answers after confirming it leads,
	// unless the caller asks for a stale local read.
	linearizable
)

// method is what the API knows of one RPC: who may call it and where it
// runs. An RPC missing from methods is refused: deny by default.
type method struct {
	perm permission
	runs placement
}

var methods = map[string]method{
	registrySvc + "UploadModule":    {permPublish, leader},
	registrySvc + "GetUploadOffset": {permPublish, leader},
	registrySvc + "GetModule":       {permRead, linearizable},
	registrySvc + "FetchModule":     {permFollow, local},
	registrySvc + "ListModules":     {permRead, linearizable},
	registrySvc + "SetRoute":        {permPublish, leader},
	registrySvc + "DeleteRoute":     {permPublish, leader},
	registrySvc + "RollbackRoute":   {permPublish, leader},
	registrySvc + "ListRoutes":      {permRead, linearizable},
	registrySvc + "Watch":           {permFollow, local},
	registrySvc + "CollectGarbage":  {permAdmin, leader}, // a dry run too: the leader's state
	registrySvc + "SetFlag":         {permPublish, leader},
	registrySvc + "DeleteFlag":      {permPublish, leader},
	registrySvc + "ListFlags":       {permRead, linearizable},
	accessSvc + "AddKey":            {permAdmin, leader},
	accessSvc + "ListKeys":          {permRead, linearizable},
	accessSvc + "RevokeKey":         {permAdmin, leader},
	accessSvc + "CreateToken":       {permAdmin, leader},
	accessSvc + "ListTokens":        {permAdmin, linearizable},
	accessSvc + "RevokeToken":       {permAdmin, leader},
	accessSvc + "ListAudit":         {permRead, linearizable},
	clusterSvc + "Join":             {permAdmin, leader},
	clusterSvc + "RemoveMember":     {permAdmin, leader},
	clusterSvc + "ListMembers":      {permRead, local},
	telemetrySvc + "Report":         {permFollow, leader},
	telemetrySvc + "ListWorkers":    {permRead, leader},
	telemetrySvc + "StartRollout":   {permPublish, leader},
	telemetrySvc + "ListRollouts":   {permRead, linearizable},
	telemetrySvc + "AbortRollout":   {permPublish, leader},
	telemetrySvc + "PauseRollout":   {permPublish, leader},
	telemetrySvc + "ResumeRollout":  {permPublish, leader},
	telemetrySvc + "GetTraffic":     {permRead, leader},
}
