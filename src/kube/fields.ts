/**
 * The field names of the real Kubernetes core/v1 API types (as of v1.33), so that
 * strict field validation accepts every real field — modelled or not — and rejects
 * typos the way `kubectl apply --validate=strict` does. Fields listed here but not
 * modelled by podwire are kept in the manifest body and otherwise ignored.
 */

/** Top level of every object. */
export const TYPE_META_FIELDS = ['apiVersion', 'kind', 'metadata'] as const;

/** io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta */
export const OBJECT_META_FIELDS = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
] as const;

/** io.k8s.api.core.v1.Pod */
export const POD_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;

/** io.k8s.api.core.v1.PodSpec */
export const POD_SPEC_FIELDS = [
  'activeDeadlineSeconds',
  'affinity',
  'automountServiceAccountToken',
  'containers',
  'dnsConfig',
  'dnsPolicy',
  'enableServiceLinks',
  'ephemeralContainers',
  'hostAliases',
  'hostIPC',
  'hostNetwork',
  'hostPID',
  'hostUsers',
  'hostname',
  'imagePullSecrets',
  'initContainers',
  'nodeName',
  'nodeSelector',
  'os',
  'overhead',
  'preemptionPolicy',
  'priority',
  'priorityClassName',
  'readinessGates',
  'resourceClaims',
  'resources',
  'restartPolicy',
  'runtimeClassName',
  'schedulerName',
  'schedulingGates',
  'securityContext',
  'serviceAccount',
  'serviceAccountName',
  'setHostnameAsFQDN',
  'shareProcessNamespace',
  'subdomain',
  'terminationGracePeriodSeconds',
  'tolerations',
  'topologySpreadConstraints',
  'volumes',
] as const;

/** io.k8s.api.core.v1.Container (also the shape of initContainers entries). */
export const CONTAINER_FIELDS = [
  'args',
  'command',
  'env',
  'envFrom',
  'image',
  'imagePullPolicy',
  'lifecycle',
  'livenessProbe',
  'name',
  'ports',
  'readinessProbe',
  'resizePolicy',
  'resources',
  'restartPolicy',
  'securityContext',
  'startupProbe',
  'stdin',
  'stdinOnce',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'tty',
  'volumeDevices',
  'volumeMounts',
  'workingDir',
] as const;

/** io.k8s.api.core.v1.EphemeralContainer: a Container plus targetContainerName. */
export const EPHEMERAL_CONTAINER_FIELDS = [...CONTAINER_FIELDS, 'targetContainerName'] as const;

/** io.k8s.api.core.v1.ContainerPort */
export const CONTAINER_PORT_FIELDS = ['containerPort', 'hostIP', 'hostPort', 'name', 'protocol'] as const;

/** io.k8s.api.core.v1.PodStatus */
export const POD_STATUS_FIELDS = [
  'conditions',
  'containerStatuses',
  'ephemeralContainerStatuses',
  'hostIP',
  'hostIPs',
  'initContainerStatuses',
  'message',
  'nominatedNodeName',
  'observedGeneration',
  'phase',
  'podIP',
  'podIPs',
  'qosClass',
  'reason',
  'resize',
  'resourceClaimStatuses',
  'startTime',
] as const;

/** io.k8s.api.core.v1.PodCondition */
export const POD_CONDITION_FIELDS = [
  'lastProbeTime',
  'lastTransitionTime',
  'message',
  'observedGeneration',
  'reason',
  'status',
  'type',
] as const;

/** Built-in pod condition types. Custom (readiness gate) types are also allowed if they are qualified names. */
export const POD_CONDITION_TYPES = [
  'PodScheduled',
  'PodReadyToStartContainers',
  'Initialized',
  'ContainersReady',
  'Ready',
  'DisruptionTarget',
  'PodResizePending',
  'PodResizeInProgress',
] as const;

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;
export const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'] as const;
export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

/**
 * Kinds podwire knows the group/version of, and whether they are namespaced.
 * A manifest of one of these kinds must use this apiVersion; kinds not listed
 * (custom resources such as Calico's) are accepted with any apiVersion.
 */
export const KNOWN_KINDS: Readonly<Record<string, { apiVersion: string; namespaced: boolean }>> = {
  Pod: { apiVersion: 'v1', namespaced: true },
  Service: { apiVersion: 'v1', namespaced: true },
  Endpoints: { apiVersion: 'v1', namespaced: true },
  Namespace: { apiVersion: 'v1', namespaced: false },
  Node: { apiVersion: 'v1', namespaced: false },
  ConfigMap: { apiVersion: 'v1', namespaced: true },
  Secret: { apiVersion: 'v1', namespaced: true },
  ServiceAccount: { apiVersion: 'v1', namespaced: true },
  EndpointSlice: { apiVersion: 'discovery.k8s.io/v1', namespaced: true },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', namespaced: true },
  Ingress: { apiVersion: 'networking.k8s.io/v1', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', namespaced: true },
  ReplicaSet: { apiVersion: 'apps/v1', namespaced: true },
  StatefulSet: { apiVersion: 'apps/v1', namespaced: true },
  DaemonSet: { apiVersion: 'apps/v1', namespaced: true },
  Job: { apiVersion: 'batch/v1', namespaced: true },
  CronJob: { apiVersion: 'batch/v1', namespaced: true },
  PersistentVolume: { apiVersion: 'v1', namespaced: false },
  PersistentVolumeClaim: { apiVersion: 'v1', namespaced: true },
  ReplicationController: { apiVersion: 'v1', namespaced: true },
  LimitRange: { apiVersion: 'v1', namespaced: true },
  ResourceQuota: { apiVersion: 'v1', namespaced: true },
  Event: { apiVersion: 'v1', namespaced: true },
  PodTemplate: { apiVersion: 'v1', namespaced: true },
  ControllerRevision: { apiVersion: 'apps/v1', namespaced: true },
  IngressClass: { apiVersion: 'networking.k8s.io/v1', namespaced: false },
  AdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', namespaced: false },
  BaselineAdminNetworkPolicy: { apiVersion: 'policy.networking.k8s.io/v1alpha1', namespaced: false },
};

/**
 * Built-in group versions: a manifest with one of these apiVersions must use a
 * kind listed for it in {@link KNOWN_KINDS} (custom resources live in other groups).
 */
export const BUILTIN_GROUP_VERSIONS: readonly string[] = [...new Set(Object.values(KNOWN_KINDS).map((k) => k.apiVersion))];

/** io.k8s.api.core.v1.Namespace */
export const NAMESPACE_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;
/** io.k8s.api.core.v1.NamespaceSpec */
export const NAMESPACE_SPEC_FIELDS = ['finalizers'] as const;
/** io.k8s.api.core.v1.NamespaceStatus */
export const NAMESPACE_STATUS_FIELDS = ['conditions', 'phase'] as const;

/** io.k8s.api.core.v1.Service */
export const SERVICE_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;

/** io.k8s.api.core.v1.ServiceSpec */
export const SERVICE_SPEC_FIELDS = [
  'allocateLoadBalancerNodePorts',
  'clusterIP',
  'clusterIPs',
  'externalIPs',
  'externalName',
  'externalTrafficPolicy',
  'healthCheckNodePort',
  'internalTrafficPolicy',
  'ipFamilies',
  'ipFamilyPolicy',
  'loadBalancerClass',
  'loadBalancerIP',
  'loadBalancerSourceRanges',
  'ports',
  'publishNotReadyAddresses',
  'selector',
  'sessionAffinity',
  'sessionAffinityConfig',
  'trafficDistribution',
  'type',
] as const;

/** io.k8s.api.core.v1.ServicePort */
export const SERVICE_PORT_FIELDS = ['appProtocol', 'name', 'nodePort', 'port', 'protocol', 'targetPort'] as const;
/** io.k8s.api.core.v1.SessionAffinityConfig */
export const SESSION_AFFINITY_CONFIG_FIELDS = ['clientIP'] as const;
/** io.k8s.api.core.v1.ClientIPConfig */
export const CLIENT_IP_CONFIG_FIELDS = ['timeoutSeconds'] as const;
/** io.k8s.api.core.v1.ServiceStatus */
export const SERVICE_STATUS_FIELDS = ['conditions', 'loadBalancer'] as const;
/** io.k8s.api.core.v1.LoadBalancerStatus */
export const LOAD_BALANCER_STATUS_FIELDS = ['ingress'] as const;
/** io.k8s.api.core.v1.LoadBalancerIngress */
export const LOAD_BALANCER_INGRESS_FIELDS = ['hostname', 'ip', 'ipMode', 'ports'] as const;
/** io.k8s.api.core.v1.PortStatus */
export const PORT_STATUS_FIELDS = ['error', 'port', 'protocol'] as const;

export const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'] as const;
export const SESSION_AFFINITIES = ['ClientIP', 'None'] as const;
export const TRAFFIC_POLICIES = ['Cluster', 'Local'] as const;
export const IP_FAMILIES = ['IPv4', 'IPv6'] as const;
export const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'] as const;
export const LOAD_BALANCER_IP_MODES = ['Proxy', 'VIP'] as const;

/** io.k8s.api.core.v1.Endpoints */
export const ENDPOINTS_FIELDS = ['apiVersion', 'kind', 'metadata', 'subsets'] as const;
/** io.k8s.api.core.v1.EndpointSubset */
export const ENDPOINT_SUBSET_FIELDS = ['addresses', 'notReadyAddresses', 'ports'] as const;
/** io.k8s.api.core.v1.EndpointAddress */
export const ENDPOINT_ADDRESS_FIELDS = ['hostname', 'ip', 'nodeName', 'targetRef'] as const;
/** io.k8s.api.core.v1.EndpointPort (also the shape of discovery.k8s.io/v1 EndpointPort) */
export const ENDPOINT_PORT_FIELDS = ['appProtocol', 'name', 'port', 'protocol'] as const;
/** io.k8s.api.core.v1.ObjectReference */
export const OBJECT_REFERENCE_FIELDS = ['apiVersion', 'fieldPath', 'kind', 'name', 'namespace', 'resourceVersion', 'uid'] as const;

/** io.k8s.api.discovery.v1.EndpointSlice */
export const ENDPOINT_SLICE_FIELDS = ['addressType', 'apiVersion', 'endpoints', 'kind', 'metadata', 'ports'] as const;
/** io.k8s.api.discovery.v1.Endpoint */
export const SLICE_ENDPOINT_FIELDS = [
  'addresses',
  'conditions',
  'deprecatedTopology',
  'hints',
  'hostname',
  'nodeName',
  'targetRef',
  'zone',
] as const;
/** io.k8s.api.discovery.v1.EndpointConditions */
export const ENDPOINT_CONDITIONS_FIELDS = ['ready', 'serving', 'terminating'] as const;
/** io.k8s.api.discovery.v1.EndpointHints */
export const ENDPOINT_HINTS_FIELDS = ['forNodes', 'forZones'] as const;
export const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'] as const;

/** Well-known labels and names of the Service machinery. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
export const LABEL_METADATA_NAME = 'kubernetes.io/metadata.name';
export const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const ENDPOINTSLICE_MIRRORING_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
/** ClientIP affinity: default and maximum timeout (core/types.go). */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;
export const MAX_CLIENT_IP_AFFINITY_SECONDS = 86400;

/** io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector */
export const LABEL_SELECTOR_FIELDS = ['matchExpressions', 'matchLabels'] as const;
/** io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement */
export const LABEL_SELECTOR_REQUIREMENT_FIELDS = ['key', 'operator', 'values'] as const;

/** io.k8s.api.networking.v1.NetworkPolicy (its status was removed in v1.27). */
export const NETWORK_POLICY_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec'] as const;
/** io.k8s.api.networking.v1.NetworkPolicySpec */
export const NETWORK_POLICY_SPEC_FIELDS = ['egress', 'ingress', 'podSelector', 'policyTypes'] as const;
/** io.k8s.api.networking.v1.NetworkPolicyIngressRule */
export const NETWORK_POLICY_INGRESS_RULE_FIELDS = ['from', 'ports'] as const;
/** io.k8s.api.networking.v1.NetworkPolicyEgressRule */
export const NETWORK_POLICY_EGRESS_RULE_FIELDS = ['ports', 'to'] as const;
/** io.k8s.api.networking.v1.NetworkPolicyPeer */
export const NETWORK_POLICY_PEER_FIELDS = ['ipBlock', 'namespaceSelector', 'podSelector'] as const;
/** io.k8s.api.networking.v1.IPBlock */
export const IP_BLOCK_FIELDS = ['cidr', 'except'] as const;
/** io.k8s.api.networking.v1.NetworkPolicyPort */
export const NETWORK_POLICY_PORT_FIELDS = ['endPort', 'port', 'protocol'] as const;
export const POLICY_TYPES = ['Ingress', 'Egress'] as const;

/** policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy (network-policy-api v0.1.x CRDs). */
export const ANP_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;
export const ANP_SPEC_FIELDS = ['egress', 'ingress', 'priority', 'subject'] as const;
export const BANP_SPEC_FIELDS = ['egress', 'ingress', 'subject'] as const;
export const ANP_STATUS_FIELDS = ['conditions'] as const;
/** AdminNetworkPolicySubject */
export const ANP_SUBJECT_FIELDS = ['namespaces', 'pods'] as const;
/** NamespacedPod */
export const ANP_NAMESPACED_POD_FIELDS = ['namespaceSelector', 'podSelector'] as const;
export const ANP_INGRESS_RULE_FIELDS = ['action', 'from', 'name', 'ports'] as const;
export const ANP_EGRESS_RULE_FIELDS = ['action', 'name', 'ports', 'to'] as const;
/** AdminNetworkPolicyIngressPeer */
export const ANP_INGRESS_PEER_FIELDS = ['namespaces', 'pods'] as const;
/** AdminNetworkPolicyEgressPeer (nodes and domainNames are experimental-channel fields). */
export const ANP_EGRESS_PEER_FIELDS = ['domainNames', 'namespaces', 'networks', 'nodes', 'pods'] as const;
/** BaselineAdminNetworkPolicyEgressPeer */
export const BANP_EGRESS_PEER_FIELDS = ['namespaces', 'networks', 'nodes', 'pods'] as const;
/** AdminNetworkPolicyPort (namedPort is an experimental-channel field). */
export const ANP_PORT_FIELDS = ['namedPort', 'portNumber', 'portRange'] as const;
export const ANP_PORT_NUMBER_FIELDS = ['port', 'protocol'] as const;
export const ANP_PORT_RANGE_FIELDS = ['end', 'protocol', 'start'] as const;
export const ANP_ACTIONS = ['Allow', 'Deny', 'Pass'] as const;
export const BANP_ACTIONS = ['Allow', 'Deny'] as const;
