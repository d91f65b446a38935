package controlplane

import registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"

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
	registryv1.RegistryService_UploadModule_FullMethodName:    {permPublish, leader},
	registryv1.RegistryService_GetUploadOffset_FullMethodName: {permPublish, leader},
	registryv1.RegistryService_GetModule_FullMethodName:       {permRead, linearizable},
	registryv1.RegistryService_FetchModule_FullMethodName:     {permFollow, local},
	registryv1.RegistryService_ListModules_FullMethodName:     {permRead, linearizable},
	registryv1.RegistryService_SetRoute_FullMethodName:        {permPublish, leader},
	registryv1.RegistryService_DeleteRoute_FullMethodName:     {permPublish, leader},
	registryv1.RegistryService_RollbackRoute_FullMethodName:   {permPublish, leader},
	registryv1.RegistryService_ListRoutes_FullMethodName:      {permRead, linearizable},
	registryv1.RegistryService_Watch_FullMethodName:           {permFollow, local},
	registryv1.RegistryService_CollectGarbage_FullMethodName:  {permAdmin, leader}, // a dry run too: the leader's state
	registryv1.RegistryService_SetFlag_FullMethodName:         {permPublish, leader},
	registryv1.RegistryService_DeleteFlag_FullMethodName:      {permPublish, leader},
	registryv1.RegistryService_ListFlags_FullMethodName:       {permRead, linearizable},
	registryv1.AccessService_AddKey_FullMethodName:            {permAdmin, leader},
	registryv1.AccessService_ListKeys_FullMethodName:          {permRead, linearizable},
	registryv1.AccessService_RevokeKey_FullMethodName:         {permAdmin, leader},
	registryv1.AccessService_CreateToken_FullMethodName:       {permAdmin, leader},
	registryv1.AccessService_ListTokens_FullMethodName:        {permAdmin, linearizable},
	registryv1.AccessService_RevokeToken_FullMethodName:       {permAdmin, leader},
	registryv1.AccessService_ListAudit_FullMethodName:         {permRead, linearizable},
	registryv1.ClusterService_Join_FullMethodName:             {permAdmin, leader},
	registryv1.ClusterService_RemoveMember_FullMethodName:     {permAdmin, leader},
	registryv1.ClusterService_ListMembers_FullMethodName:      {permRead, local},
	registryv1.ClusterService_SaveSnapshot_FullMethodName:     {permAdmin, local}, // the called node's state, like etcd's
	registryv1.ClusterService_RestoreSnapshot_FullMethodName:  {permAdmin, leader},
	registryv1.TelemetryService_Report_FullMethodName:         {permFollow, leader},
	registryv1.TelemetryService_ListWorkers_FullMethodName:    {permRead, leader},
	registryv1.TelemetryService_StartRollout_FullMethodName:   {permPublish, leader},
	registryv1.TelemetryService_ListRollouts_FullMethodName:   {permRead, linearizable},
	registryv1.TelemetryService_AbortRollout_FullMethodName:   {permPublish, leader},
	registryv1.TelemetryService_PauseRollout_FullMethodName:   {permPublish, leader},
	registryv1.TelemetryService_ResumeRollout_FullMethodName:  {permPublish, leader},
	registryv1.TelemetryService_GetTraffic_FullMethodName:     {permRead, leader},
	registryv1.ConfigService_SetConfig_FullMethodName:         {permPublish, leader},
	registryv1.ConfigService_GetConfig_FullMethodName:         {permRead, linearizable},
	registryv1.ConfigService_ListConfigs_FullMethodName:       {permRead, linearizable},
	registryv1.ConfigService_RekeySecrets_FullMethodName:      {permAdmin, leader},
	registryv1.KVService_ListStores_FullMethodName:            {permRead, linearizable},
	registryv1.KVService_WriteEntries_FullMethodName:          {permPublish, leader}, // a dry run too: the leader's state
	registryv1.KVService_GetEntry_FullMethodName:              {permRead, linearizable},
	registryv1.KVService_ListEntries_FullMethodName:           {permRead, linearizable},
	registryv1.KVService_DeleteStore_FullMethodName:           {permPublish, leader},
}
