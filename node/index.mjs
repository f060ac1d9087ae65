import bindery from "./index.js";

export const { Runtime, BinderyError, Reject, ErrorCodes } = bindery;
export default bindery;
