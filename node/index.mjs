import bindery from "./index.js";

export const { Runtime, BinderyError, ErrorCodes } = bindery;
export default bindery;
