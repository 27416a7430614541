using System.Net;
using System.Net.Sockets;

namespace AgentSessions.Functions.Tests.Infrastructure;

public static class LoopbackPorts
{
    /// <summary>A loopback port nothing listened on a moment ago (callers retry if it is taken meanwhile).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
