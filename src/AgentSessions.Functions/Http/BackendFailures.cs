using System.Net.Sockets;
using Azure;
using Grpc.Core;

namespace AgentSessions.Functions.Http;

/// <summary>
/// Which failures of the Durable backend (reached over the host's gRPC channel) and of Table storage pass by
/// themselves. Those answer 503 with <c>Retry-After</c>; they must never read as "the session does not exist".
/// </summary>
public static class BackendFailures
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        // The host reports any failure of its client call (a storage timeout or 503 inside it included) as an RPC
        // error; none of them says the session does not exist, which reads answer with "not found" instead.
        RpcException rpc => rpc.StatusCode is not (StatusCode.Cancelled or StatusCode.InvalidArgument or StatusCode.Unimplemented
            or StatusCode.PermissionDenied or StatusCode.Unauthenticated),
        RequestFailedException storage => storage.Status is 0 or 408 or 429 or >= 500,
        HttpRequestException or SocketException or TimeoutException or IOException => true,
        _ => false,
    };
}
