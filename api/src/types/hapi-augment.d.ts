export {};

declare module '@hapi/hapi' {
  interface PluginSpecificConfiguration {
    'hapi-rate-limit'?: Record<string, unknown>;
  }
}
