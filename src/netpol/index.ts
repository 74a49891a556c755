/** kube-router's network policy controller (iptables flavour) and podwire's ANP/BANP tiers in the same style. */
export { KubeRouterNetpol, NetpolInformer, startNetpol, ipsetRestoreText, DEFAULT_NETPOL_CONFIG, type NetpolConfig } from './agent.js';
export { renderNode, inputHeadRules, builtinJump, startupLines, actionable, type NpCluster, type NpPod, type NpNode, type NpNodeConfig, type Rendered, type IpsetSpec } from './render.js';
export * as names from './names.js';
