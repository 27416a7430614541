using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Testing;

namespace AgentSessions.Functions.Tests.Infrastructure;

/// <summary>
/// Starts the in-process Durable engine on a port that was free a moment ago. The engine picks a
/// random port of its own otherwise, and with many hosts per test run two can pick the same one;
/// a port taken between the check and the bind is retried on another.
/// </summary>
/// <remarks>
/// Each engine builds two default hosts, and each watches appsettings files for changes; with an
/// engine per test that exhausts the machine's inotify instances (a limit shared with everything
/// else running), so config reload is off for the test process: nothing here reloads configuration.
/// </remarks>
public static class DurableTestHosts
{
    static DurableTestHosts() => Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");

    private const int Attempts = 5;

    public static async Task<DurableTaskTestHost> StartAsync(Action<DurableTaskRegistry> register)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await DurableTaskTestHost.StartAsync(register, new DurableTaskTestHostOptions { Port = LoopbackPorts.Free() });
            }
            catch (Exception exception) when (attempt < Attempts && IsAddressInUse(exception))
            {
            }
        }
    }

    private static bool IsAddressInUse(Exception exception)
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is AddressInUseException or SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return true;
            }
        }

        return false;
    }
}
