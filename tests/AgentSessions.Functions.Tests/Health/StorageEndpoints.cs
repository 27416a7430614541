using System.Net;
using System.Net.Sockets;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Health;

/// <summary>Storage connection strings for failure tests, all on loopback, all with Azurite's (public) account key.</summary>
public static class StorageEndpoints
{
    /// <summary>A loopback port that was free a moment ago and has no listener now: connections are refused.</summary>
    public static int ClosedPort() => LoopbackPorts.Free();

    public static string ConnectionString(int port) =>
        $"DefaultEndpointsProtocol=http;AccountName={AzuriteFixture.AccountName};AccountKey={AzuriteFixture.AccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{port}/{AzuriteFixture.AccountName};" +
        $"QueueEndpoint=http://127.0.0.1:{port}/{AzuriteFixture.AccountName};" +
        $"TableEndpoint=http://127.0.0.1:{port}/{AzuriteFixture.AccountName};";
}
