import dapr from "./dapr.js";

export const { DaprClient, CommunicationProtocolEnum } = dapr;
export default dapr;
