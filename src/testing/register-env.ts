/** The environment variable `gateway plugin test` lists the plugin folders in (JSON array of paths). */
export const TEST_ROOTS_ENV = 'TOLLGATE_PLUGIN_TEST_ROOTS';
