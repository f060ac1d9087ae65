import http from "./http.js";

export const { bindings, deliverTo, Bindings, request } = http;
export default http;
