/** The part of fengari (a Lua 5.3 VM in JavaScript) the Argo CD health-check tests use. */
declare module 'fengari' {
  type LuaState = unknown;
  export function to_luastring(text: string): Uint8Array;
  export const lua: {
    LUA_OK: number;
    lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
    lua_tojsstring(L: LuaState, index: number): string;
  };
  export const lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadstring(L: LuaState, code: Uint8Array): number;
  };
  export const lualib: {
    luaL_openlibs(L: LuaState): void;
  };
}
