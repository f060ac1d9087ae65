import dapr from "./dapr.js";

export const { DaprClient, DaprServer, CommunicationProtocolEnum } = dapr;
export default dapr;
