package main

// A hand-kept, strict subset of CloudNativePG's postgresql.cnpg.io/v1 Cluster (api/v1
// cluster_types.go, CNPG 1.27): the Go module proxy does not serve CloudNativePG's module, so its
// types cannot be imported. Every top-level spec field of the upstream ClusterSpec is listed
// (a misspelled one is an unknown field); the ones this project sets are typed to their leaves
// with upstream's json names, the rest are kept as raw JSON and reported as "not deep-checked"
// by validate.py's summary when present. Extend this file when the manifests use more.

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type cnpgCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              cnpgClusterSpec `json:"spec"`
}

func (c *cnpgCluster) managedRoles() []cnpgRole {
	if c.Spec.Managed == nil {
		return nil
	}
	return c.Spec.Managed.Roles
}

type cnpgClusterSpec struct {
	// Typed to the leaves.
	Instances                 *int                              `json:"instances"`
	ImageName                 string                            `json:"imageName,omitempty"`
	ImagePullPolicy           corev1.PullPolicy                 `json:"imagePullPolicy,omitempty"`
	PrimaryUpdateStrategy     string                            `json:"primaryUpdateStrategy,omitempty"`
	PrimaryUpdateMethod       string                            `json:"primaryUpdateMethod,omitempty"`
	Postgresql                *cnpgPostgresConfiguration        `json:"postgresql,omitempty"`
	ReplicationSlots          *cnpgReplicationSlots             `json:"replicationSlots,omitempty"`
	Bootstrap                 *cnpgBootstrap                    `json:"bootstrap,omitempty"`
	Managed                   *cnpgManaged                      `json:"managed,omitempty"`
	Storage                   *cnpgStorage                      `json:"storage,omitempty"`
	WalStorage                *cnpgStorage                      `json:"walStorage,omitempty"`
	Resources                 *corev1.ResourceRequirements      `json:"resources,omitempty"`
	Affinity                  *cnpgAffinity                     `json:"affinity,omitempty"`
	Monitoring                *cnpgMonitoring                   `json:"monitoring,omitempty"`
	EnableSuperuserAccess     *bool                             `json:"enableSuperuserAccess,omitempty"`
	SuperuserSecret           *cnpgLocalObjectReference         `json:"superuserSecret,omitempty"`
	ImagePullSecrets          []cnpgLocalObjectReference        `json:"imagePullSecrets,omitempty"`
	Description               string                            `json:"description,omitempty"`
	MinSyncReplicas           int                               `json:"minSyncReplicas,omitempty"`
	MaxSyncReplicas           int                               `json:"maxSyncReplicas,omitempty"`
	StartDelay                int32                             `json:"startDelay,omitempty"`
	StopDelay                 int32                             `json:"stopDelay,omitempty"`
	SmartShutdownTimeout      *int32                            `json:"smartShutdownTimeout,omitempty"`
	SwitchoverDelay           int32                             `json:"switchoverDelay,omitempty"`
	FailoverDelay             int32                             `json:"failoverDelay,omitempty"`
	LogLevel                  string                            `json:"logLevel,omitempty"`
	PriorityClassName         string                            `json:"priorityClassName,omitempty"`
	SchedulerName             string                            `json:"schedulerName,omitempty"`
	PostgresUID               int64                             `json:"postgresUID,omitempty"`
	PostgresGID               int64                             `json:"postgresGID,omitempty"`
	EnablePDB                 *bool                             `json:"enablePDB,omitempty"`
	Env                       []corev1.EnvVar                   `json:"env,omitempty"`
	EnvFrom                   []corev1.EnvFromSource            `json:"envFrom,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	SeccompProfile            *corev1.SeccompProfile            `json:"seccompProfile,omitempty"`
	PodSecurityContext        *corev1.PodSecurityContext        `json:"podSecurityContext,omitempty"`
	SecurityContext           *corev1.SecurityContext           `json:"securityContext,omitempty"`
	ProjectedVolumeTemplate   *corev1.ProjectedVolumeSource     `json:"projectedVolumeTemplate,omitempty"`

	// Known to upstream, not modelled here: accepted, not deep-checked.
	InheritedMetadata         json.RawMessage `json:"inheritedMetadata,omitempty"`
	ImageCatalogRef           json.RawMessage `json:"imageCatalogRef,omitempty"`
	ReplicaCluster            json.RawMessage `json:"replica,omitempty"`
	Certificates              json.RawMessage `json:"certificates,omitempty"`
	ServiceAccountTemplate    json.RawMessage `json:"serviceAccountTemplate,omitempty"`
	SmartStopDelay            json.RawMessage `json:"smartStopDelay,omitempty"`
	LivenessProbeTimeout      json.RawMessage `json:"livenessProbeTimeout,omitempty"`
	Backup                    json.RawMessage `json:"backup,omitempty"`
	NodeMaintenanceWindow     json.RawMessage `json:"nodeMaintenanceWindow,omitempty"`
	ExternalClusters          json.RawMessage `json:"externalClusters,omitempty"`
	Tablespaces               json.RawMessage `json:"tablespaces,omitempty"`
	EphemeralVolumeSource     json.RawMessage `json:"ephemeralVolumeSource,omitempty"`
	EphemeralVolumesSizeLimit json.RawMessage `json:"ephemeralVolumesSizeLimit,omitempty"`
	Plugins                   json.RawMessage `json:"plugins,omitempty"`
	Probes                    json.RawMessage `json:"probes,omitempty"`
}

type cnpgPostgresConfiguration struct {
	Parameters             map[string]string `json:"parameters,omitempty"`
	PgHBA                  []string          `json:"pg_hba,omitempty"`
	PgIdent                []string          `json:"pg_ident,omitempty"`
	SharedPreloadLibraries []string          `json:"shared_preload_libraries,omitempty"`
	Synchronous            json.RawMessage   `json:"synchronous,omitempty"`
	Extensions             json.RawMessage   `json:"extensions,omitempty"`
	LDAP                   json.RawMessage   `json:"ldap,omitempty"`
	PromotionTimeout       int32             `json:"promotionTimeout,omitempty"`
	EnableAlterSystem      bool              `json:"enableAlterSystem,omitempty"`
}

type cnpgReplicationSlots struct {
	HighAvailability *struct {
		Enabled                    *bool  `json:"enabled,omitempty"`
		SlotPrefix                 string `json:"slotPrefix,omitempty"`
		SynchronizeLogicalDecoding bool   `json:"synchronizeLogicalDecoding,omitempty"`
	} `json:"highAvailability,omitempty"`
	UpdateInterval      int             `json:"updateInterval,omitempty"`
	SynchronizeReplicas json.RawMessage `json:"synchronizeReplicas,omitempty"`
}

type cnpgBootstrap struct {
	InitDB *struct {
		Database                   string                    `json:"database,omitempty"`
		Owner                      string                    `json:"owner,omitempty"`
		Secret                     *cnpgLocalObjectReference `json:"secret,omitempty"`
		Encoding                   string                    `json:"encoding,omitempty"`
		LocaleCollate              string                    `json:"localeCollate,omitempty"`
		LocaleCType                string                    `json:"localeCType,omitempty"`
		Locale                     string                    `json:"locale,omitempty"`
		LocaleProvider             string                    `json:"localeProvider,omitempty"`
		DataChecksums              *bool                     `json:"dataChecksums,omitempty"`
		WalSegmentSize             int                       `json:"walSegmentSize,omitempty"`
		PostInitSQL                []string                  `json:"postInitSQL,omitempty"`
		PostInitApplicationSQL     []string                  `json:"postInitApplicationSQL,omitempty"`
		PostInitTemplateSQL        []string                  `json:"postInitTemplateSQL,omitempty"`
		PostInitSQLRefs            json.RawMessage           `json:"postInitSQLRefs,omitempty"`
		PostInitApplicationSQLRefs json.RawMessage           `json:"postInitApplicationSQLRefs,omitempty"`
		PostInitTemplateSQLRefs    json.RawMessage           `json:"postInitTemplateSQLRefs,omitempty"`
		Import                     json.RawMessage           `json:"import,omitempty"`
		Options                    []string                  `json:"options,omitempty"`
	} `json:"initdb,omitempty"`
	Recovery     json.RawMessage `json:"recovery,omitempty"`
	PgBaseBackup json.RawMessage `json:"pg_basebackup,omitempty"`
}

type cnpgManaged struct {
	Roles    []cnpgRole      `json:"roles,omitempty"`
	Services json.RawMessage `json:"services,omitempty"`
}

type cnpgRole struct {
	Name            string                    `json:"name"`
	Ensure          string                    `json:"ensure,omitempty"`
	Comment         string                    `json:"comment,omitempty"`
	Login           bool                      `json:"login,omitempty"`
	Superuser       bool                      `json:"superuser,omitempty"`
	CreateDB        bool                      `json:"createdb,omitempty"`
	CreateRole      bool                      `json:"createrole,omitempty"`
	Inherit         *bool                     `json:"inherit,omitempty"`
	Replication     bool                      `json:"replication,omitempty"`
	BypassRLS       bool                      `json:"bypassrls,omitempty"`
	ConnectionLimit int64                     `json:"connectionLimit,omitempty"`
	ValidUntil      *metav1.Time              `json:"validUntil,omitempty"`
	InRoles         []string                  `json:"inRoles,omitempty"`
	PasswordSecret  *cnpgLocalObjectReference `json:"passwordSecret,omitempty"`
	DisablePassword bool                      `json:"disablePassword,omitempty"`
}

type cnpgStorage struct {
	Size               string                            `json:"size,omitempty"`
	StorageClass       *string                           `json:"storageClass,omitempty"`
	ResizeInUseVolumes *bool                             `json:"resizeInUseVolumes,omitempty"`
	PvcTemplate        *corev1.PersistentVolumeClaimSpec `json:"pvcTemplate,omitempty"`
}

type cnpgAffinity struct {
	EnablePodAntiAffinity     *bool                   `json:"enablePodAntiAffinity,omitempty"`
	TopologyKey               string                  `json:"topologyKey,omitempty"`
	NodeSelector              map[string]string       `json:"nodeSelector,omitempty"`
	NodeAffinity              *corev1.NodeAffinity    `json:"nodeAffinity,omitempty"`
	Tolerations               []corev1.Toleration     `json:"tolerations,omitempty"`
	PodAntiAffinityType       string                  `json:"podAntiAffinityType,omitempty"`
	AdditionalPodAntiAffinity *corev1.PodAntiAffinity `json:"additionalPodAntiAffinity,omitempty"`
	AdditionalPodAffinity     *corev1.PodAffinity     `json:"additionalPodAffinity,omitempty"`
}

type cnpgMonitoring struct {
	EnablePodMonitor               bool            `json:"enablePodMonitor,omitempty"`
	DisableDefaultQueries          *bool           `json:"disableDefaultQueries,omitempty"`
	CustomQueriesConfigMap         json.RawMessage `json:"customQueriesConfigMap,omitempty"`
	CustomQueriesSecret            json.RawMessage `json:"customQueriesSecret,omitempty"`
	TLSConfig                      json.RawMessage `json:"tls,omitempty"`
	PodMonitorMetricRelabelConfigs json.RawMessage `json:"podMonitorMetricRelabelings,omitempty"`
	PodMonitorRelabelConfigs       json.RawMessage `json:"podMonitorRelabelings,omitempty"`
	MetricsQueriesTTL              json.RawMessage `json:"metricsQueriesTTL,omitempty"`
}

type cnpgLocalObjectReference struct {
	Name string `json:"name"`
}
