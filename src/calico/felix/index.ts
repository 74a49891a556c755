export { FelixPolicy, startFelixPolicy, type FelixConfig, type FelixInformer } from './agent.js';
export { renderFelix, chainLines, isLocalWorkload, dispatchTree, DEFAULT_FELIX_CONFIG, type FelixNodeConfig, type FelixPool, type FelixRendered, type FelixChain, type FelixIpset, type FelixEndpoint, type EndpointToHostAction } from './render.js';
export { selectorString, selectorSet, npPeerSelector, anpPeerSelector, uniqueId, ipsetName, namedPortSet, type SelNode } from './selector.js';
